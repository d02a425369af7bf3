"""``train``: corpus -> vocabulary -> ragged ids -> trained model directory."""

from __future__ import annotations
