"""Datasets: indexing DICOM trees, dataset sources, manifests and splits.

The built-in sources (``dicom-folder``, ``cbis-ddsm``, ``series-folder``, ``file-list``,
``dicomweb``) register when their module is imported; the source registry
(:data:`radprep.plugins.SOURCES`) imports the one a recipe names on first use, so a run loads
its own source only.
"""
