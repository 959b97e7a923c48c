"""Cairn: resumable multi-agent pipelines for Claude Code.

Import what you need from its modules (`cairn.manager`, `cairn.resumer`, ...): this
package file stays empty of imports so that hooks pay only for what they use.
"""

from __future__ import annotations

__version__ = "0.1.0"
