"""Resource limits for parsing, compiling and rendering templates.

A template is untrusted input: the sandbox stops attribute walks, and these limits stop
resource exhaustion (huge strings, power towers, endless loops, recursion). Every limit
raises :class:`~plotpalette.errors.TemplateSecurityError` naming the limit, so a user
who hits one legitimately knows which knob it was.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "Limits"]


@dataclass(frozen=True)
class Limits:
    """Limits applied to one template. The defaults suit prompts of up to ~50k tokens."""

    max_yaml_bytes: int = 256_000  # a template file, checked before YAML parsing
    max_text_chars: int = 64_000  # one prompt/system/when/fragment text
    max_rendered_chars: int = 200_000  # one rendered prompt (or system prompt)
    max_string_chars: int = 200_000  # any string/list built by an operator or filter
    max_output_chars: int = 1_000_000  # everything emitted during one render, buffers too
    max_render_seconds: float = 2.0  # wall time of one render (prompt, system or when)
    max_range: int = 10_000  # items in one range()
    max_loop_iterations: int = 100_000  # loop iterations in one render, all loops together
    max_call_depth: int = 32  # nested macro / recursive-loop calls
    max_template_loads: int = 64  # includes + imports executed in one render
    max_int_bits: int = 4_096  # size of integers produced by * and **
    max_width: int = 10_000  # widths/precisions in format specs, center, indent


DEFAULT_LIMITS = Limits()
