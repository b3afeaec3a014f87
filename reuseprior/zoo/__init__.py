"""Model zoos with real accuracies, for measuring predictive validity (thesis chapter 6):

- :mod:`.nasbench201`: our NAS-Bench-201 cell space + analog-nasbench CIFAR-10 accuracies;
- :mod:`.torchvision_zoo`, :mod:`.pytorchcv_zoo`: ImageNet-1K classifiers + published accuracies;
- :mod:`.correlation`: Spearman/Kendall with bootstrap intervals;
- :mod:`.timm_zoo`: timm's ImageNet-1K classifiers + published accuracies;
- :mod:`.scoring`: scoring any declared zoo into versioned CSVs (the zoos: one module each in
  :mod:`.scoring.zoos`, listed by :func:`reuseprior.zoo.scoring.list_zoos`);
- :mod:`.batch_sensitivity`: the data-dependent proxies on other minibatches;
- :mod:`.torchvision_analysis`: every torchvision classifier analysed at its eval crop;
- :mod:`.distributed`: one Dask task per architecture (a LocalCluster, or an existing cluster);
- :mod:`.store`: the SQLite store every finished row is committed to, and its CSV import/export.

Submodules are imported on use (``from reuseprior.zoo import nasbench201``).
"""
