"""Datasets: indexing DICOM trees, dataset sources, manifests and splits."""
