"""Chapter drivers: one module per notebook, named like it. Each holds the
notebook's typed profiles (``PROFILES``: ``quick`` for a CPU in minutes,
``full`` for the paper's scale) and the functions that compute its tables
and draw its figures; the notebook holds parameters, calls, side-by-side
tables and narrative.

========================  ==========================================
module                    thesis
========================  ==========================================
``ch3_revolver``          chapter 3, appendix C (Revolver)
``ch4_contexts``          chapter 4, contexts on toy graphs
``ch4_graph_tables``      Tables 4.3/4.4, appendix A
``ch4_sharing_training``  section 4.5.4 (EfficientNetV2 shared)
``ch5_energy_priors``     chapter 5, energy priors
``ch5_depth_width``       section 5.2, Tables 5.1-5.4
``ch6_predictive_validity``  chapter 6 (beyond the thesis): zoos
``ch8_prior_as_tool``     beyond the thesis: compare, NB201 search
========================  ==========================================
"""
