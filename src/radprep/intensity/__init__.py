"""Intensity: the DICOM chain (Modality LUT, VOI, inversion) and normalisation."""
