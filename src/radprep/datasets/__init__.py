"""Datasets: indexing DICOM trees, dataset sources, manifests and splits.

Importing the package registers the built-in sources (``dicom-folder``, ``cbis-ddsm``,
``series-folder``, ``file-list``, ``dicomweb``).
"""

from radprep.datasets import cbis_ddsm, dicomweb, file_list, series_source, sources  # noqa: F401  (register the sources)
