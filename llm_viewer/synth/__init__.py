"""Synthetic full-leg radiographs with exact ground truth (see docs/SYNTHETIC.md).

Main entry points::

    from llm_viewer.synth import SynthConfig, generate_case, dicom_bytes, write_case
    case = generate_case(seed=0, config=SynthConfig.with_height(2025), index=0)
"""

from .dicom import dicom_bytes
from .generator import SyntheticCase, case_id_for, generate_case
from .params import LegParameters, StudyParameters, SynthConfig, SynthConfigError
from .writer import write_case

__all__ = ["SynthConfig", "SynthConfigError", "LegParameters", "StudyParameters", "SyntheticCase",
           "generate_case", "case_id_for", "dicom_bytes", "write_case"]
