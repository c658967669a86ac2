"""Video use cases: submit, look up, list, cancel, delete, remix, open content.

Every surface calls these; none of them knows HTTP or imports torch.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from ..artifacts.base import ArtifactStore
from ..catalog import Catalog
from ..errors import Conflict, InvalidRequest
from ..jobs import Job, JobStatus
from ..media.inputs import decode_image, encode_png
from ..settings import Settings
from ..store import JobStore, Page
from .specs import VideoRequest, build_spec, check_prompt

VARIANTS = {
    "video": ("video.mp4", "video/mp4"),
    "thumbnail": ("thumbnail.webp", "image/webp"),
    "spritesheet": ("spritesheet.jpg", "image/jpeg"),
}


@dataclass(frozen=True)
class Content:
    key: str
    media_type: str
    filename: str


class VideoService:
    def __init__(self, store: JobStore, artifacts: ArtifactStore, catalog: Catalog, settings: Settings):
        self.store = store
        self.artifacts = artifacts
        self.catalog = catalog
        self.settings = settings

    def submit(self, req: VideoRequest, *, account: str, surface: str, remixed_from: str | None = None) -> Job:
        # Decode both images and validate everything before storing anything, so a bad request leaves
        # nothing behind. The first frame's size can decide the video's (resize_method).
        first = self._decode(req.image, req.image_param)
        last = self._decode(req.last_image, req.last_image_param)
        spec = build_spec(self.catalog, req, image_size=first.size if first is not None else None)
        if first is not None:
            spec = spec.replace(input_image=self._store_image(encode_png(first)))
        if last is not None:
            spec = spec.replace(last_image=self._store_image(encode_png(last)))
        return self.store.create(
            spec, account=account, surface=surface, max_attempts=self.settings.max_attempts, remixed_from=remixed_from
        )

    def _decode(self, data: bytes | None, param: str):
        if data is None:
            return None
        return decode_image(
            data, param=param, max_bytes=self.settings.max_upload_bytes, max_pixels=self.settings.max_input_pixels
        )

    def _store_image(self, png: bytes) -> str:
        key = f"inputs/{secrets.token_hex(16)}.png"
        self.artifacts.put_bytes(key, png)
        return key

    def remix(self, job_id: str, prompt: str | None, *, account: str, surface: str) -> Job:
        """A new job with the source's parameters, seed and input image, and a new prompt."""
        source = self.store.get(job_id, account)
        spec = source.spec.replace(prompt=check_prompt(prompt, "prompt", required=True))
        # Each job owns its input copies, so deleting the source never breaks the remix.
        if spec.input_image:
            spec = spec.replace(input_image=self._store_image(self.artifacts.get_bytes(spec.input_image)))
        if spec.last_image:
            spec = spec.replace(last_image=self._store_image(self.artifacts.get_bytes(spec.last_image)))
        return self.store.create(
            spec, account=account, surface=surface, max_attempts=self.settings.max_attempts, remixed_from=source.id
        )

    def get(self, job_id: str, *, account: str) -> Job:
        return self.store.get(job_id, account)

    def list(self, *, account: str, after: str | None, limit: int, order: str) -> Page:
        if not 1 <= limit <= 100:
            raise InvalidRequest(f"Invalid limit {limit}: it must be between 1 and 100.", param="limit")
        if order not in ("asc", "desc"):
            raise InvalidRequest(f"Invalid order '{order}'. Allowed: asc, desc.", param="order")
        return self.store.list(account, after=after, limit=limit, order=order)

    def cancel(self, job_id: str, *, account: str) -> Job:
        return self.store.request_cancel(job_id, account)

    def delete(self, job_id: str, *, account: str) -> Job:
        job = self.store.delete(job_id, account)
        # A running job holds its input in memory already and its worker removes its own partial
        # outputs when it sees the cancel (the store refuses to complete a cancelled job).
        self.artifacts.delete_prefix(f"jobs/{job.id}/")
        for key in (job.spec.input_image, job.spec.last_image):
            if key:
                self.artifacts.delete(key)
        return job

    def content(self, job_id: str, variant: str, *, account: str) -> Content:
        if variant not in VARIANTS:
            raise InvalidRequest(f"Invalid variant '{variant}'. Allowed: {', '.join(VARIANTS)}.", param="variant")
        job = self.store.get(job_id, account)
        if job.status is not JobStatus.COMPLETED:
            raise Conflict(
                f"Video '{job_id}' is {job.status.value}; its content is available once it is completed.",
                param="video_id",
            )
        filename, media_type = VARIANTS[variant]
        return Content(key=job.result["artifacts"][variant], media_type=media_type, filename=filename)
