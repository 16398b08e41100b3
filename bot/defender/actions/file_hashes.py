"""SHA-1 for a file target: StopAndQuarantineFile takes SHA-1 only.

A target from a SHA256 column is mapped through `GET /api/files/{sha256}` (File.Read.All), which
returns the file's `sha1` when Defender has seen it. Each hash is asked about once per submission:
the same file on forty devices is one lookup.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from bot.actions.model import FileTarget
from bot.defender.actions.mde_objects import FileInfo
from bot.defender.actions.operations import SHA256_LOOKUP_CAPABILITY, capability
from bot.defender.actions.transport import ApiClient, CallFailed
from bot.defender.http import api_error

_SHA1 = re.compile(r"^[0-9a-fA-F]{40}$")


class Sha1Lookup:
    def __init__(self, mde: ApiClient) -> None:
        self._mde = mde
        self._needs = capability(SHA256_LOOKUP_CAPABILITY)
        self._known: dict[str, str] = {}
        self._unknown: dict[str, str] = {}  # sha256 -> why it has no SHA-1

    async def sha1_for(self, target: FileTarget) -> str:
        """The SHA-1 to quarantine by; CallFailed (with the reason) when there is none."""
        if target.sha1:
            return target.sha1
        sha256 = (target.sha256 or "").lower()
        if not sha256:
            raise CallFailed("The target has neither a SHA-1 nor a SHA-256.")
        if sha256 not in self._known and sha256 not in self._unknown:
            await self._look_up(sha256)
        if sha256 in self._unknown:
            raise CallFailed(self._unknown[sha256])
        return self._known[sha256]

    async def _look_up(self, sha256: str) -> None:
        try:
            response = await self._mde.request(
                "GET", f"/api/files/{quote(sha256, safe='')}", needs=self._needs
            )
        except CallFailed as exc:
            self._unknown[sha256] = f"Could not map SHA-256 {sha256} to SHA-1: {exc.reason}"
            return
        advice = (
            "StopAndQuarantineFile takes SHA-1 only: project SHA1 or InitiatingProcessSHA1 in "
            "the hunt and choose that column."
        )
        if response.status_code == 404:
            self._unknown[sha256] = (
                f"Defender for Endpoint knows no file with SHA-256 {sha256}, so it has no SHA-1 "
                f"for it. {advice}"
            )
            return
        if not response.is_success:
            error = api_error(response).describe(response.status_code)
            self._unknown[sha256] = f"Could not map SHA-256 {sha256} to SHA-1 ({error})."
            return
        try:
            sha1 = FileInfo.model_validate(response.json()).sha1
        except ValueError:  # not JSON, or not a File (pydantic's ValidationError is one)
            sha1 = None
        if not isinstance(sha1, str) or not _SHA1.match(sha1):
            self._unknown[sha256] = (
                f"Defender for Endpoint has no SHA-1 for the file with SHA-256 {sha256}. {advice}"
            )
            return
        self._known[sha256] = sha1.lower()
