"""Model zoos with real accuracies for chapter 6 (predictive validity):

- :mod:`.nasbench201`: our NAS-Bench-201 cell space + analog-nasbench CIFAR-10 accuracies;
- :mod:`.torchvision_zoo`, :mod:`.pytorchcv_zoo`: ImageNet-1K classifiers + published accuracies;
- :mod:`.correlation`: Spearman/Kendall with bootstrap intervals;
- :mod:`.scoring`: scoring any zoo into versioned CSVs (``python -m reuseprior score-zoos``);
- :mod:`.distributed`: one Dask task per architecture (a LocalCluster, or an existing cluster);
- :mod:`.store`: the SQLite store every finished row is committed to, and its CSV import/export;
- :mod:`.predictive_validity`: the notebook's tables and figures.

Submodules are imported on use (``from reuseprior.zoo import nasbench201``).
"""
