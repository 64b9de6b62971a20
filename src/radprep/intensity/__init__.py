"""Intensity operations: the DICOM intensity chain (Modality LUT, VOI, inversion) and normalisation."""
