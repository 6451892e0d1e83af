"""Prompt templates: the format, sandboxed rendering, input inference, the library.

>>> from plotpalette.templates import parse_template, Renderer
>>> tpl = parse_template('''
... name: hello
... steps:
...   - id: greet
...     model: cheap
...     prompt: "Write one line about {{ topic }}."
... ''')
>>> r = Renderer(tpl)
>>> ctx = r.context({"topic": "tides"}, record_index=0, rng_seed=1)
>>> r.render_step("greet", ctx).prompt
'Write one line about tides.'
"""

from __future__ import annotations

from .fragments import builtin_templates
from .inputs import InputField, InputSchema, infer_inputs
from .library import TemplateLibrary, VersionInfo
from .limits import DEFAULT_LIMITS, Limits
from .model import TIERS, InputSpec, Step, Template, parse_template, template_json_schema
from .preview import PreviewResult, placeholder, preview
from .render import RenderContext, RenderedStep, Renderer, StepOutput, render_string

__all__ = [
    "DEFAULT_LIMITS",
    "TIERS",
    "InputField",
    "InputSchema",
    "InputSpec",
    "Limits",
    "PreviewResult",
    "RenderContext",
    "RenderedStep",
    "Renderer",
    "Step",
    "StepOutput",
    "Template",
    "TemplateLibrary",
    "VersionInfo",
    "builtin_templates",
    "infer_inputs",
    "parse_template",
    "placeholder",
    "preview",
    "render_string",
    "template_json_schema",
]
