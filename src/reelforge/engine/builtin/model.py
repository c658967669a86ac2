"""The built-in space-time denoiser: a small (2+1)D UNet in pixel space.

Design choices, each aimed at learning motion cheaply on a CPU:
- Space-to-depth patches (4x4 by default): a 32x32 clip is processed as an 8x8 grid of 48-channel
  cells, ~2.4x cheaper to train than 2x2 patches on a contended 2-core CPU.
- Coordinate channels (x, y, normalised frame index): "object at x0 + v*t" becomes a simple
  function of the input, and per-frame FiLM from (text, noise level, frame index) lets the
  caption's direction steer every frame differently.
- A "where" prior: a small MLP from (x, y, t, noise level, caption) at every cell, added to the
  first features. The blurry mean clip at high noise (where the object is in each frame for a given
  direction) is a direct function of these inputs; the UNet alone learnt it too slowly on a CPU.
- Full space-time attention at every encoder level and in the bottleneck (temporal attention in
  the finest decoder level), so a cell can look where the object was in the other frames.
- Text x time products. The sign of a motion (left vs right) is an interaction between the caption
  and the frame index: the object is at x0 + v(caption) * t. With caption and frame embeddings only
  summed before one nonlinearity, a 5,000-step model learnt the axis of motion (horizontal vs
  vertical needs no interaction) but picked the sign at chance. So the per-frame conditioning gets
  a ``text_time(c) * t`` term and the where-prior's first layer is a caption-dependent linear map
  of (x, y, t).
- A caption-conditioned template painter (a small hypernetwork head). The FiLM-conditioned UNet
  learnt colour, background and motion but drew every shape as the same blob: a shape is a
  spatial pattern around wherever the object is, which per-channel modulation expresses poorly.
  The head turns the decoder's last features into ``template_maps`` pixel-resolution "object here"
  maps and convolves each with a ``template_size``^2 RGB kernel generated from the caption, i.e.
  it stamps a caption-dependent picture (the shape, in its colour over its background) wherever
  the network puts a dot. It is added to the UNet's output, so colour and motion keep their path.
- Optional first-frame conditioning (image-to-video): clean frame 0 (replicated over time) plus a
  flag channel, so one network serves text-to-video and image-to-video.
- Predicts the clean clip x0 ("x-prediction"); the pipeline turns it into the rectified-flow
  velocity v = (x_s - x0) / s. With 48 pixel values per cell and only 48 channels, predicting
  v = noise - x0 (which has to reproduce every pixel's noise) left visible noise in samples;
  a clean clip is a smooth, low-dimensional target that this small network can hit.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


def sinusoidal(x: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=x.device, dtype=torch.float32) / half)
    args = x.float()[..., None] * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def coords(frames: int, h: int, w: int, device: torch.device) -> torch.Tensor:
    """(3, T, H, W) channels x, y, t, each in [-1, 1]."""
    t = torch.linspace(-1, 1, frames, device=device)
    y = torch.linspace(-1, 1, h, device=device)
    x = torch.linspace(-1, 1, w, device=device)
    tt, yy, xx = torch.meshgrid(t, y, x, indexing="ij")
    return torch.stack([xx, yy, tt])


def _groups(c: int) -> int:
    return 8 if c % 8 == 0 else 1


class ResBlock(nn.Module):
    """GN-SiLU-(spatial, temporal) conv twice; the second norm is FiLM-modulated per frame."""

    def __init__(self, cin: int, cout: int, cond: int):
        super().__init__()
        self.n1 = nn.GroupNorm(_groups(cin), cin)
        self.s1 = nn.Conv3d(cin, cout, (1, 3, 3), padding=(0, 1, 1))
        self.t1 = nn.Conv3d(cout, cout, (3, 1, 1), padding=(1, 0, 0))
        self.n2 = nn.GroupNorm(_groups(cout), cout)
        self.film = nn.Linear(cond, 2 * cout)
        self.s2 = nn.Conv3d(cout, cout, (1, 3, 3), padding=(0, 1, 1))
        self.t2 = nn.Conv3d(cout, cout, (3, 1, 1), padding=(1, 0, 0))
        nn.init.zeros_(self.t2.weight)
        nn.init.zeros_(self.t2.bias)
        self.skip = nn.Conv3d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        # c: (B, T, cond) per-frame conditioning.
        h = self.s1(F.silu(self.n1(x)))
        h = h + self.t1(h)
        scale, shift = self.film(c).permute(0, 2, 1)[..., None, None].chunk(2, dim=1)
        h = F.silu(self.n2(h) * (1 + scale) + shift)
        h = self.s2(h)
        h = h + self.t2(h)
        return self.skip(x) + h


class Attention(nn.Module):
    """Self-attention over time only (per pixel) or over the whole space-time volume."""

    def __init__(self, c: int, heads: int, spacetime: bool):
        super().__init__()
        self.heads, self.spacetime = heads, spacetime
        self.norm = nn.GroupNorm(_groups(c), c)
        self.pos = nn.Linear(3, c)  # the token's (x, y, t): lets attention reason about where/when
        self.qkv = nn.Linear(c, 3 * c)
        self.out = nn.Linear(c, c)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        pos = self.pos(coords(t, h, w, x.device).permute(1, 2, 3, 0))  # (T, H, W, C)
        z = self.norm(x).permute(0, 2, 3, 4, 1) + pos  # (B, T, H, W, C)
        if self.spacetime:
            z = z.reshape(b, t * h * w, c)
        else:
            z = z.permute(0, 2, 3, 1, 4).reshape(b * h * w, t, c)
        q, k, v = self.qkv(z).reshape(z.shape[0], z.shape[1], 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        o = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(z.shape)
        o = self.out(o)
        if self.spacetime:
            o = o.reshape(b, t, h, w, c).permute(0, 4, 1, 2, 3)
        else:
            o = o.reshape(b, h, w, t, c).permute(0, 4, 3, 1, 2)
        return x + o


class BuiltinVideoDenoiser(ModelMixin, ConfigMixin):
    """Predicts clean x0 from x_s of shape (B, 3, T, H, W) in [-1, 1]; H and W divisible by 4 * patch."""

    @register_to_config
    def __init__(self, channels: tuple[int, int, int] = (48, 96, 128), cond_dim: int = 128, text_dim: int = 128, heads: int = 4,
                 sample_size: int = 32, num_frames: int = 8, patch: int = 2, template_maps: int = 2, template_size: int = 15):
        super().__init__()
        c0, c1, c2 = channels
        self.time_mlp = nn.Sequential(nn.Linear(cond_dim, cond_dim), nn.SiLU(), nn.Linear(cond_dim, cond_dim))
        self.text_proj = nn.Linear(text_dim, cond_dim)
        self.frame_proj = nn.Linear(32, cond_dim)
        self.text_time = nn.Linear(cond_dim, cond_dim)
        self.cond_out = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, cond_dim))
        pc = 3 * patch * patch
        # x_t + first frame (pc each) + i2v flag (1) + coords (3), all after space-to-depth.
        self.conv_in = nn.Conv3d(2 * pc + 4, c0, (1, 3, 3), padding=(0, 1, 1))
        self.where_xyz = nn.Linear(3, 64)
        self.where_cond = nn.Linear(cond_dim, 64)
        self.where_bilinear = nn.Linear(cond_dim, 3 * 64)  # caption -> its own (x, y, t) weights
        self.where_out = nn.Sequential(nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, c0))
        nn.init.zeros_(self.where_out[-1].weight)
        nn.init.zeros_(self.where_out[-1].bias)
        self.enc0 = ResBlock(c0, c0, cond_dim)
        self.att0 = Attention(c0, heads, spacetime=True)
        self.down0 = nn.Conv3d(c0, c1, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        self.enc1 = ResBlock(c1, c1, cond_dim)
        self.att1 = Attention(c1, heads, spacetime=True)
        self.down1 = nn.Conv3d(c1, c2, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        self.mid1 = ResBlock(c2, c2, cond_dim)
        self.mid_att = Attention(c2, heads, spacetime=True)
        self.mid2 = ResBlock(c2, c2, cond_dim)
        self.up1 = nn.Conv3d(c2, c1, (1, 3, 3), padding=(0, 1, 1))
        self.dec1 = ResBlock(2 * c1, c1, cond_dim)
        self.datt1 = Attention(c1, heads, spacetime=True)
        self.up0 = nn.Conv3d(c1, c0, (1, 3, 3), padding=(0, 1, 1))
        self.dec0 = ResBlock(2 * c0, c0, cond_dim)
        self.datt0 = Attention(c0, heads, spacetime=False)
        self.norm_out = nn.GroupNorm(_groups(c0), c0)
        self.conv_out = nn.Conv3d(c0, pc, (1, 3, 3), padding=(0, 1, 1))
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)
        if template_maps:
            # Maps at pixel resolution via space-to-depth channels; kernels from the conditioning vector.
            self.template_where = nn.Conv3d(c0, template_maps * patch * patch, (1, 3, 3), padding=(0, 1, 1))
            self.template_kernel = nn.Linear(cond_dim, 3 * template_maps * template_size * template_size)
            nn.init.zeros_(self.template_kernel.weight)
            nn.init.zeros_(self.template_kernel.bias)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, text_embeds: torch.Tensor,
                first_frame: torch.Tensor | None = None, first_frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``timestep`` in [0, 1000] (sigma * 1000); ``first_frame`` (B, 3, H, W) in [-1, 1] or None;
        ``first_frame_mask`` (B,) 1 where the first frame is given (lets a batch mix t2v and i2v)."""
        b, _, t, h, w = sample.shape
        p = self.config.patch
        hp, wp, pc = h // p, w // p, 3 * p * p
        x = F.pixel_unshuffle(sample.transpose(1, 2).reshape(b * t, 3, h, w), p)
        x = x.reshape(b, t, pc, hp, wp).transpose(1, 2)
        if first_frame is None:
            ff = torch.zeros(b, pc, t, hp, wp, device=sample.device, dtype=sample.dtype)
            flag = torch.zeros(b, 1, t, hp, wp, device=sample.device, dtype=sample.dtype)
        else:
            m = torch.ones(b, device=sample.device) if first_frame_mask is None else first_frame_mask
            m = m.to(sample.dtype).view(b, 1, 1, 1, 1)
            ff = F.pixel_unshuffle(first_frame.to(sample.dtype), p).unsqueeze(2).expand(-1, -1, t, -1, -1) * m
            flag = m.expand(b, 1, t, hp, wp)
        xyz = coords(t, hp, wp, sample.device).to(sample.dtype).unsqueeze(0).expand(b, -1, -1, -1, -1)
        ts = timestep.to(sample.device).float().reshape(-1).expand(b)
        c = self.time_mlp(sinusoidal(ts, self.config.cond_dim)) + self.text_proj(text_embeds.float())
        c_global = c
        # where-prior: first layer split into a coordinate part and a conditioning part (broadcast).
        cell = xyz[0].permute(1, 2, 3, 0)  # (T, hp, wp, 3)
        z = self.where_xyz(cell)[None] + self.where_cond(c)[:, None, None, None]
        z = z + torch.einsum("thwk,bkc->bthwc", cell, self.where_bilinear(c).view(b, 3, 64))
        prior = self.where_out(F.silu(z)).permute(0, 4, 1, 2, 3)  # (B, c0, T, hp, wp)
        x = self.conv_in(torch.cat([x, ff, flag, xyz], dim=1)) + prior
        frame_pos = sinusoidal(torch.linspace(0, 16, t, device=sample.device), 32)  # (T, 32)
        tau = torch.linspace(-1, 1, t, device=sample.device)[None, :, None]
        c = self.cond_out(c[:, None, :] + self.frame_proj(frame_pos)[None] + self.text_time(c)[:, None, :] * tau)  # (B, T, cond)

        s0 = self.att0(self.enc0(x, c))
        s1 = self.att1(self.enc1(self.down0(s0), c))
        m = self.mid2(self.mid_att(self.mid1(self.down1(s1), c)), c)
        u1 = self.up1(F.interpolate(m, scale_factor=(1, 2, 2), mode="nearest"))
        d1 = self.datt1(self.dec1(torch.cat([u1, s1], dim=1), c))
        u0 = self.up0(F.interpolate(d1, scale_factor=(1, 2, 2), mode="nearest"))
        d0 = self.datt0(self.dec0(torch.cat([u0, s0], dim=1), c))
        feats = F.silu(self.norm_out(d0))
        out = self.conv_out(feats)  # (B, pc, T, hp, wp)
        out = F.pixel_shuffle(out.transpose(1, 2).reshape(b * t, pc, hp, wp), p)
        out = out.reshape(b, t, 3, h, w).transpose(1, 2)
        if self.config.template_maps:
            out = out + self._templates(feats, c_global, b, t, h, w)
        return out

    def _templates(self, feats: torch.Tensor, cond: torch.Tensor, b: int, t: int, h: int, w: int) -> torch.Tensor:
        """Stamp caption-generated kernels at the places the maps mark: one grouped conv per sample."""
        k, size, p = self.config.template_maps, self.config.template_size, self.config.patch
        maps = self.template_where(feats)  # (B, k*p*p, T, hp, wp)
        maps = F.pixel_shuffle(maps.transpose(1, 2).reshape(b * t, k * p * p, h // p, w // p), p)  # (B*T, k, h, w)
        maps = maps.reshape(b, t, k, h, w).permute(1, 0, 2, 3, 4).reshape(t, b * k, h, w)
        kernels = self.template_kernel(cond).view(b * 3, k, size, size)
        stamped = F.conv2d(maps, kernels.to(maps.dtype), padding=size // 2, groups=b)  # (T, B*3, h, w)
        return stamped.reshape(t, b, 3, h, w).permute(1, 2, 0, 3, 4)
