"""Datasets: indexing DICOM trees, dataset sources, manifests and splits.

Importing the package registers the built-in sources (``dicom-folder``, ``cbis-ddsm``).
"""

from radprep.datasets import cbis_ddsm, series_source, sources  # noqa: F401  (register the sources)
