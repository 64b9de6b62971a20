"""The tables of the de-identification actions: what PS3.3 requires, what the allowlist keeps,
which private attributes are safe, and the dummies of action D (see :mod:`radprep.deid.actions`).
"""

from __future__ import annotations

__all__ = [
    "CLASS_UID_KEYWORDS",
    "CODED_OR_NUMERIC_VRS",
    "KEPT_KEYWORDS",
    "REQUIRED_TYPE",
    "SAFE_PRIVATE",
    "TECHNICAL_GROUPS",
]

# Combined codes are resolved by the strongest Type an attribute has in the common IODs (CT, MR,
# CR, DX, MG, US, SC, NM, PET, SEG, RT Structure Set, RT Plan, Enhanced CT/MR, SR, GSPS; PS3.3).
# Keeping an attribute's presence where only some IODs require it is always safe: its value is
# a dummy, empty, or has every UID replaced. Attributes not listed are Type 3 everywhere the
# combined code matters, and are removed.
REQUIRED_TYPE: dict[str, int] = {
    "ContentDate": 1,  # Enhanced CT/MR Image C.8.15.2/C.8.13.1, Multi-frame SC, SEG, SR
    "ContentTime": 1,
    "AcquisitionDateTime": 1,  # Enhanced CT/MR Image (1C)
    "DeviceSerialNumber": 1,  # Enhanced General Equipment C.7.5.2
    "ReferencedImageSequence": 1,  # Presentation State Relationship C.11.11 (in Referenced Series)
    "SourceImageSequence": 1,  # Derivation Image macro C.7.6.16.2.6 (in DerivationImageSequence)
    "PatientID": 2,  # Patient C.7.1.1
    "AcquisitionContextSequence": 2,  # Acquisition Context C.7.6.14
    "ContrastBolusAgent": 2,  # Contrast/Bolus C.7.6.4
    "ContentCreatorName": 2,  # Content Identification macro (SEG, GSPS) C.10.9
    "ReviewerName": 2,  # Approval C.8.8.16 (2C)
    "TreatmentMachineName": 2,  # RT Beams C.8.8.14
    "RTPlanDate": 2,  # RT General Plan C.8.8.9
    "RTPlanTime": 2,
    "OperatorsName": 2,  # RT Series C.8.8.1
    # Type 2 in SR Document Series C.17.1, but one item if present in General Series C.7.3.1:
    # kept with its item cleaned (D, UIDs mapped), which satisfies both.
    "ReferencedPerformedProcedureStepSequence": 1,
}

# Unnamed public attributes kept whatever their VR (text included): each is Type 1 or 2 in a
# common IOD, or needed to read the pixels, match pixel-cleaning regions, or use the images in ML.
KEPT_KEYWORDS: frozenset[str] = frozenset(
    {
        # SOP Common, General Series / Image, Equipment (C.12.1, C.7.3.1, C.7.6.1, C.7.5.1)
        "SpecificCharacterSet",
        "ImageType",
        "SOPClassUID",
        "Modality",
        "ConversionType",
        "PresentationIntentType",
        "Manufacturer",
        "ManufacturerModelName",
        "SoftwareVersions",
        "SecondaryCaptureDeviceManufacturer",
        "SecondaryCaptureDeviceManufacturerModelName",
        "SecondaryCaptureDeviceSoftwareVersions",
        "FrameType",
        "PixelPresentation",
        "VolumetricProperties",
        "VolumeBasedCalculationTechnique",
        "ComplexImageComponent",
        "AcquisitionContrast",
        # Acquisition text that carries the technique, not the patient
        "SequenceName",
        "PulseSequenceName",
        "ConvolutionKernel",
        "FilterType",
        "ReceiveCoilName",
        "TransmitCoilName",
        "ImagedNucleus",
        "ContrastBolusRoute",
        # Pixel presentation (C.11.1, C.11.2, C.11.6: Type 1 in Enhanced MR, DX, MG)
        "PresentationLUTShape",
        "PresentationLUTSequence",
        "WindowCenterWidthExplanation",
        "LUTExplanation",
        "RescaleType",
        "ModalityLUTType",
        "LUTLabel",
        # Coded terms (Code Sequence macro, table 8.8-1)
        "CodeValue",
        "CodingSchemeDesignator",
        "CodingSchemeVersion",
        "CodeMeaning",
        "LongCodeValue",
        "URNCodeValue",
        "MappingResource",
        "ContextIdentifier",
        "AnatomicRegionSequence",
        "AnatomicRegionModifierSequence",
        "PrimaryAnatomicStructureSequence",
        "ConceptNameCodeSequence",
        "ConceptCodeSequence",
        "MeasurementUnitsCodeSequence",
        "PurposeOfReferenceCodeSequence",
        "DerivationCodeSequence",
        "RealWorldValueMappingSequence",
        "ValueType",
        "RelationshipType",
        # Structured reports: evidence lists and measurements (PS3.3 C.17.2, C.18.1)
        "CurrentRequestedProcedureEvidenceSequence",
        "PertinentOtherEvidenceSequence",
        "PerformedProcedureCodeSequence",
        "MeasuredValueSequence",
        "ContentTemplateSequence",
        # Stacks of enhanced multi-frame images (C.7.6.16.2.2): StackID is Type 1C
        "StackID",
        # References between instances (their UIDs are replaced consistently)
        "ReferencedSeriesSequence",
        "ReferencedInstanceSequence",
        "ReferencedSOPSequence",
        "DerivationImageSequence",
        "ReferencedSOPClassUID",
        "ReferencedFrameNumber",
        # Segmentation (C.8.20.4): labels are Type 1
        "SegmentLabel",
        "SegmentAlgorithmName",
        "ContentLabel",
    }
)

# Unnamed free text that an IOD requires: emptied (Type 2) or replaced by a dummy (Type 1, 1C),
# or scrubbed under Clean Descriptors.
_TEXT_EMPTIED: frozenset[str] = frozenset(
    {
        "ContentDescription",  # Content Identification macro (SEG, GSPS): Type 2
        "PositionReferenceIndicator",  # Frame of Reference C.7.4.1: Type 2, free text
    }
)
_TEXT_DUMMIED: frozenset[str] = frozenset({"TextValue"})  # SR TEXT content items (C.17.3)

# Groups whose unnamed coded and numeric elements are kept (and whose sequences are entered).
TECHNICAL_GROUPS: frozenset[int] = frozenset(
    {
        0x0008,  # coded identification (CS), class UIDs
        0x0018,  # acquisition (PS3.6: KVP, SliceThickness, RepetitionTime, EchoTime...)
        0x0020,  # relationship and geometry (ImagePositionPatient, InstanceNumber...)
        0x0022,  # ophthalmic acquisition
        0x0028,  # image pixel, LUTs, presentation
        0x0040,  # coded content, real-world value mapping
        0x0048,  # whole slide imaging
        0x0054,  # NM / PET
        0x0062,  # segmentation
        0x0066,  # surfaces
        0x003A,  # waveform channels
        0x0070,  # presentation states (their text is removed)
        0x3004,  # RT dose
        0x3006,  # RT structure set (contours)
        0x300A,  # RT plan
        0x300C,  # RT relationships
        0x5200,  # functional groups
        0x5400,  # waveforms (ECG, ...)
        0x7FE0,  # pixel data
    }
)
# In these groups sequences are kept only by keyword (they also hold workflow sequences).
_SEQUENCES_BY_KEYWORD_ONLY = frozenset({0x0008, 0x0040})
# Bulk binary data is kept only where it is pixel-like data or LUTs.
_BINARY_GROUPS = frozenset({0x0028, 0x7FE0, 0x0066, 0x3004, 0x0048, 0x5400})

CODED_OR_NUMERIC_VRS: frozenset[str] = frozenset(
    {
        "AT",
        "CS",
        "DS",
        "FD",
        "FL",
        "IS",
        "SL",
        "SS",
        "SV",
        "UL",
        "US",
        "UV",
        "US or SS",
        "US or OW",
        "US or SS or OW",
        "OB or OW",
        "OB",
        "OD",
        "OF",
        "OL",
        "OV",
        "OW",
        "SQ",
        "UI",
        "DA",
        "DT",
        "TM",
        "AS",
    }
)
_BINARY_VRS = frozenset(
    {"OB", "OD", "OF", "OL", "OV", "OW", "OB or OW", "US or OW", "US or SS or OW"}
)
_TEXT_VRS = frozenset({"LO", "LT", "SH", "ST", "UT", "UC", "PN"})

# UIDs of kinds, not instances: kept as they are even where not standard (private SOP classes).
CLASS_UID_KEYWORDS = frozenset(
    {
        "SOPClassUID",
        "ReferencedSOPClassUID",
        "ReferencedSOPClassUIDInFile",
        "RelatedGeneralSOPClassUID",
        "OriginalSpecializedSOPClassUID",
        "TransferSyntaxUID",
        "ReferencedTransferSyntaxUIDInFile",
        "CodingSchemeUID",
        "MappingResourceUID",
        "ContextUID",
    }
)

# Retain Safe Private (PS3.15 E.3.10): private attributes known to hold numeric acquisition
# values only (a subset of the examples of Table E.3.10-1). Key: (private creator, group,
# element offset); value: (VR, meaning). Anything else private is removed.
SAFE_PRIVATE: dict[tuple[str, int, int], tuple[str, str]] = {
    ("SIEMENS MR HEADER", 0x0019, 0x0C): ("IS", "B_value"),
    ("SIEMENS MR HEADER", 0x0019, 0x0D): ("CS", "DiffusionDirectionality"),
    ("SIEMENS MR HEADER", 0x0019, 0x0E): ("FD", "DiffusionGradientDirection"),
    ("SIEMENS MR HEADER", 0x0019, 0x27): ("FD", "B_matrix"),
    ("GEMS_PARM_01", 0x0043, 0x39): ("IS", "Slop_int_6..9 (b-value)"),
    ("GEMS_ACQU_01", 0x0019, 0xBB): ("DS", "User data 20 (diffusion direction)"),
    ("GEMS_ACQU_01", 0x0019, 0xBC): ("DS", "User data 21 (diffusion direction)"),
    ("GEMS_ACQU_01", 0x0019, 0xBD): ("DS", "User data 22 (diffusion direction)"),
    ("Philips Imaging DD 001", 0x2001, 0x03): ("FL", "Diffusion B-Factor"),
    ("Philips MR Imaging DD 001", 0x2005, 0x0D): ("FL", "Scale Intercept"),
    ("Philips MR Imaging DD 001", 0x2005, 0x0E): ("FL", "Scale Slope"),
}

_DUMMY_TEXT = "ANONYMIZED"
_DUMMY: dict[str, object] = {
    "AE": "ANONYMIZED",
    "AS": "000Y",
    "CS": "ANONYMIZED",
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "DS": "0",
    "IS": "0",
    "LO": _DUMMY_TEXT,
    "LT": _DUMMY_TEXT,
    "SH": _DUMMY_TEXT,
    "ST": _DUMMY_TEXT,
    "UT": _DUMMY_TEXT,
    "UC": _DUMMY_TEXT,
    "PN": _DUMMY_TEXT,
    "UR": "urn:anonymized",
    "AT": 0,
    "FL": 0.0,
    "FD": 0.0,
    "SL": 0,
    "SS": 0,
    "SV": 0,
    "UL": 0,
    "US": 0,
    "UV": 0,
}
_MAX_LEN = {"AE": 16, "CS": 16, "SH": 16, "LO": 64, "PN": 64, "ST": 1024, "LT": 10240}
