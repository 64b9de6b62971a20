"""Experiments over a finished run: read its manifest and outputs, write their own tables.

- :mod:`radprep.experiments.models`: ONNX (onnxruntime) and TorchScript classifiers behind one
  small interface, their input shape read from the model.
- :mod:`radprep.experiments.occlusion`: scores with and without the ROI, a control box, and
  sliding-occluder sensitivity maps (Zeiler & Fergus 2013) for every sample of a run: the run
  (checks, resume, executor); :mod:`~radprep.experiments.occlusion_sample` one sample (settings,
  model, job); :mod:`~radprep.experiments.occluder` the pure parts (maps, boxes, overlay);
  :mod:`~radprep.experiments.occlusion_table` the table and run record.
"""

from radprep.experiments.models import Model, load_model
from radprep.experiments.occlusion import (
    OcclusionSettings,
    control_box,
    roi_share,
    run_occlusion,
    sensitivity_map,
)

__all__ = [
    "Model",
    "OcclusionSettings",
    "control_box",
    "load_model",
    "roi_share",
    "run_occlusion",
    "sensitivity_map",
]
