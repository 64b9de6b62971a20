"""Regions of interest: boxes from masks, occlusion, merged or separate masks, patches."""

from radprep.roi.bbox import (
    as_bbox,
    bbox_from_mask,
    bbox_shape,
    bbox_slices,
    bboxes_from_mask,
    clip_bbox,
    expand_bbox,
    union_bbox,
)
from radprep.roi.mask import as_binary_mask, frames_to_slices, merge_masks, stack_masks
from radprep.roi.occlude import occlude_roi, occlusion_box
from radprep.roi.patches import Patch, boxes_overlap, extract_patches

__all__ = [
    "Patch",
    "as_bbox",
    "as_binary_mask",
    "bbox_from_mask",
    "bbox_shape",
    "bbox_slices",
    "bboxes_from_mask",
    "boxes_overlap",
    "clip_bbox",
    "expand_bbox",
    "extract_patches",
    "frames_to_slices",
    "merge_masks",
    "occlude_roi",
    "occlusion_box",
    "stack_masks",
    "union_bbox",
]
