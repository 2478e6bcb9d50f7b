"""Two-stage SPD training.

Stage 1 trains LoRA + saliency head on ground-truth masks (Dice + Focal). Stage 2 freezes them and
trains the mask decoder on windows of consecutive slices prompted with CPD consensus prompts, on
``Dice + Focal + lambda_psc * PSC``. Both use AdamW, the same mild augmentation for a window and its
prompts, tqdm progress, a resumable checkpoint, and DDP when launched with ``torchrun``.

The variants of the ablation differ only in what they switch on (see ``AdapterConfig.for_variant``):
``sam_tuning`` skips stage 1 and feeds raw prompts; ``local`` validates on the slice only; ``cpd``
adds neighbours; ``spd`` adds PSC.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from ..inference.backbones import build_backbone
from ..inference.cpd import CpdConfig, distil_prompts
from .dataset import Case, CaseSpec, load_case
from .losses import psc_loss, segmentation_loss
from ..inference.model import AdapterConfig, SpdModel
from ..inference.model_spec import parse_model_spec
from ..inference.device import resolve_device
from ..inference.io import atomic_output, json_text
from ..inference.prompts import Prompts, curve_to_prompts
from .simulate import simulate_clinician_centerline, simulate_noisy_points
from ..inference.slices import ModelFrame, in_plane_spacing

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Training settings.

    Attributes:
        backbone: ``NAME`` or ``NAME:CHECKPOINT``.
        variant: sam_tuning | local | cpd | spd.
        stage1_steps, stage2_steps: optimiser steps per stage.
        batch_slices: slices per stage-1 step.
        window: consecutive slices decoded per stage-2 step.
        lr: AdamW learning rate of stage 1 (LoRA and the new saliency head).
        decoder_lr: AdamW learning rate of stage 2 (the pretrained decoder, so smaller).
        lambda_psc: weight of the PSC loss; psc_pairs: next | previous | both.
        prompts: ``noise`` (1 TP + 2-5 random), ``centerline`` (case file, else simulated clinician curve)
            or ``mixed``.
        augment: random flips and intensity changes, the same for a window and its prompts.
        seed: base seed; prompts are re-drawn every step from it.
        checkpoint_every: steps between resumable checkpoints.
        cache_embeddings: encode each slice once and reuse it (for CPU budgets). Needs ``lora_rank=0``
            (the encoder stays frozen); image augmentation is then off, prompts are still re-drawn.
        cache_dir: where cached embeddings are kept between runs (shared by runs on the same cases and
            backbone, for example the ablation variants); None keeps them in memory only.
        ct_window: (level, width) in Hounsfield units CT is shown through (kept in the adapter, which then shows
            CT so wherever it runs); None scales CT by percentiles, as other images.
    """

    backbone: str = "litemedsam"
    image_size: int | None = None
    variant: str = "spd"
    lora_rank: int = 4
    stage1_steps: int = 200
    stage2_steps: int = 200
    batch_slices: int = 4
    window: int = 3
    lr: float = 1e-3
    decoder_lr: float = 1e-4
    weight_decay: float = 0.01
    lambda_psc: float = 0.5
    psc_pairs: str = "next"
    tau: float = 0.5
    neighbours: int = 2
    prompts: str = "mixed"
    augment: bool = True
    seed: int = 0
    checkpoint_every: int = 50
    device: str = "auto"
    cache_embeddings: bool = False
    cache_dir: str | None = None
    ct_window: tuple[float, float] | None = None


def _augmentation(rng: np.random.Generator, enabled: bool) -> dict:
    if not enabled:
        return {"flip_x": False, "flip_y": False, "gamma": 1.0, "scale": 1.0, "shift": 0.0}
    return {"flip_x": bool(rng.random() < 0.5), "flip_y": bool(rng.random() < 0.5),
            "gamma": float(np.exp(rng.uniform(-0.3, 0.3))), "scale": float(rng.uniform(0.9, 1.1)),
            "shift": float(rng.uniform(-0.05, 0.05))}


def _apply(images: np.ndarray, masks: np.ndarray, aug: dict) -> tuple[np.ndarray, np.ndarray]:
    images = np.clip(np.power(images, aug["gamma"]) * aug["scale"] + aug["shift"], 0.0, 1.0)
    if aug["flip_x"]:
        images, masks = images[..., ::-1], masks[..., ::-1]
    if aug["flip_y"]:
        images, masks = images[..., ::-1, :], masks[..., ::-1, :]
    return np.ascontiguousarray(images, np.float32), np.ascontiguousarray(masks)


def _flip_prompts(prompts: Prompts, aug: dict, height: int, width: int) -> Prompts:
    xy = prompts.xy.copy()
    if aug["flip_x"]:
        xy[:, 0] = width - 1 - xy[:, 0]
    if aug["flip_y"]:
        xy[:, 1] = height - 1 - xy[:, 1]
    return Prompts(prompts.slice_index, xy, prompts.positive, prompts.curve)


def window_prompts(case: Case, kind: str, seed: int) -> Prompts:
    """Noisy prompts for the whole case (the stage-2 window picks its slices from them)."""
    if kind == "mixed":
        kind = "noise" if seed % 2 else "centerline"
    if kind == "noise":
        return simulate_noisy_points(case.mask_kji, case.axis, seed)
    curves = case.centerline_lps
    if curves is None:
        curves = [simulate_clinician_centerline(case.mask_kji, case.volume, case.axis, seed)]
    return curve_to_prompts(curves, case.volume, case.axis)


class Trainer:
    def __init__(self, cases: list[CaseSpec], config: TrainConfig, out_dir: str | os.PathLike):
        self.config = config
        self.out_dir = Path(out_dir)
        self.distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        if self.distributed and not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        self.rank = dist.get_rank() if self.distributed else 0
        self.device = resolve_device(config.device)
        if self.device.type == "cuda":
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        self.rng = np.random.default_rng([config.seed, self.rank])
        torch.manual_seed(config.seed)  # the same head/LoRA initialisation on every rank and every rerun
        backbone = build_backbone(parse_model_spec(config.backbone), config.image_size)
        prior = config.variant in ("local", "cpd", "spd")
        cpd = CpdConfig(tau=config.tau, neighbours=config.neighbours if config.variant != "local" else 0,
                        validate=prior)
        self.adapter = AdapterConfig.for_variant(config.variant, backbone, cpd=cpd,
                                                 lora_rank=config.lora_rank if prior else 0,
                                                 ct_window=config.ct_window)
        self.cases = [load_case(spec, scaling=self.adapter.intensity_scaling) for spec in cases]
        if config.cache_embeddings and self.adapter.lora_rank > 0:
            raise ValueError("cache_embeddings needs a frozen encoder: pass lora_rank=0 (--lora-rank 0).")
        self.model = SpdModel(backbone, self.adapter).to(self.device)
        self._embedding_cache: dict[int, dict[int, torch.Tensor]] = {}
        self.history: list[dict] = []
        self.step = 0

    # ----- stage helpers
    def _frame(self, case: Case) -> ModelFrame:
        _, height, width = case.stack.shape
        return ModelFrame(height, width, self.adapter.image_size, in_plane_spacing(case.volume, case.axis))

    def _encode(self, frame: ModelFrame, images: np.ndarray) -> torch.Tensor:
        return self.model.backbone.encode(frame.images_to_model(torch.from_numpy(images).to(self.device)))

    def _embeddings(self, case_index: int, slices: np.ndarray, images: np.ndarray) -> torch.Tensor:
        """Encoder output for ``images`` (slices ``slices`` of a case), from the cache when enabled."""
        case = self.cases[case_index]
        frame = self._frame(case)
        if not self.config.cache_embeddings:
            return self._encode(frame, images)
        cache = self._embedding_cache.get(case_index)
        if cache is None:
            cache = self._embedding_cache[case_index] = self._load_cached(case_index)
        missing = sorted({int(t) for t in slices} - set(cache))
        with torch.no_grad():
            for start in range(0, len(missing), 4):
                batch = missing[start:start + 4]
                for t, embedding in zip(batch, self._encode(frame, case.stack[batch])):
                    cache[t] = embedding.half()
        return torch.stack([cache[int(t)] for t in slices]).float()

    def _cache_file(self, case_index: int) -> Path | None:
        if not self.config.cache_dir:
            return None
        case = self.cases[case_index]
        identity = [str(case.spec.image), case.axis, self.adapter.backbone, self.adapter.backbone_sha256,
                    self.adapter.image_size, self.adapter.intensity_percentiles]
        if self.adapter.ct_window is not None:  # the caches of runs without a window keep their names
            identity.append(self.adapter.ct_window)
        key = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:16]
        return Path(self.config.cache_dir) / f"embeddings-{key}.pt"

    def _load_cached(self, case_index: int) -> dict[int, torch.Tensor]:
        path = self._cache_file(case_index)
        if path is None or not path.is_file():
            return {}
        stored = torch.load(path, map_location=self.device, weights_only=True)
        return {int(t): embedding for t, embedding in stored.items()}

    def _save_caches(self) -> None:
        for case_index, cache in self._embedding_cache.items():
            path = self._cache_file(case_index)
            if path is not None and cache:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".partial")
                torch.save({str(t): e.cpu() for t, e in cache.items()}, tmp)
                os.replace(tmp, path)

    def _pick_case(self) -> tuple[int, Case]:
        index = int(self.rng.integers(len(self.cases)))
        return index, self.cases[index]

    def _augment(self) -> dict:
        return _augmentation(self.rng, self.config.augment and not self.config.cache_embeddings)

    def stage1_step(self, optimizer) -> float:
        index, case = self._pick_case()
        targets = case.target_slices
        n = self.config.batch_slices
        # slices without the target are drawn near it, where prompts fall (and the cache stays small)
        margin = self.config.window + self.config.neighbours + 2
        near = np.arange(max(0, targets.min() - margin), min(len(case.stack), targets.max() + margin + 1))
        with_target = self.rng.random(n) < 0.8
        picks = np.where(with_target, self.rng.choice(targets, n), self.rng.choice(near, n))
        aug = self._augment()
        images, masks = _apply(case.stack[picks], case.target[picks], aug)
        frame = self._frame(case)
        logits = self.model.saliency_logits(self._embeddings(index, picks, images))
        goal = frame.masks_to_model(torch.from_numpy(masks).to(self.device), logits.shape[-1])
        loss = segmentation_loss(logits, (goal > 0.5).float())
        self._optimise(optimizer, loss)
        return float(loss.detach())

    def stage2_step(self, optimizer) -> float | None:
        index, case = self._pick_case()
        targets = case.target_slices
        window = self.config.window
        start = int(self.rng.integers(max(1, targets.min() - 1), max(targets.min(), targets.max() - window + 2) + 1)) \
            if len(targets) else 0
        start = int(np.clip(start, 0, max(0, len(case.stack) - window)))
        reach = self.adapter.cpd.neighbours if self.adapter.cpd.validate else 0
        lo, hi = max(0, start - reach), min(len(case.stack), start + window + reach)
        context = np.arange(lo, hi)
        aug = self._augment()
        images, masks = _apply(case.stack[context], case.target[context], aug)
        frame = self._frame(case)
        prompts = window_prompts(case, self.config.prompts, int(self.rng.integers(2**31)))
        prompts = _flip_prompts(prompts.select((prompts.slice_index >= lo) & (prompts.slice_index < hi)), aug,
                                *case.stack.shape[1:])
        prompts = Prompts(prompts.slice_index - lo, prompts.xy, prompts.positive, prompts.curve)
        with torch.no_grad():
            embeddings = self._embeddings(index, context, images)
            saliency = None
            if self.adapter.saliency:
                saliency = frame.maps_to_slice(torch.sigmoid(self.model.saliency_logits(embeddings)))[:, 0]
                saliency = saliency.float().cpu().numpy()
        consensus = distil_prompts(prompts, saliency, self.adapter.cpd)
        with_consensus = set(consensus.slices.tolist())
        decoded = [t for t in range(start - lo, start - lo + window) if t in with_consensus]
        if not decoded:
            return None
        longest = max(len(consensus.prompts.on_slice(t)) for t in decoded)
        points = torch.zeros(len(decoded), longest, 2)
        labels = -torch.ones(len(decoded), longest)
        for row, t in enumerate(decoded):
            xy = consensus.prompts.on_slice(t)
            points[row, :len(xy)] = torch.from_numpy(frame.points_to_model(xy)).float()
            labels[row, :len(xy)] = 1.0
        logits, _ = self.model.backbone.decode(embeddings[decoded], points.to(self.device), labels.to(self.device))
        goal = (frame.masks_to_model(torch.from_numpy(masks[decoded]).to(self.device), logits.shape[-1]) > 0.5).float()
        loss = segmentation_loss(logits, goal)
        if self.config.variant == "spd" and self.config.lambda_psc > 0:
            runs = np.split(np.arange(len(decoded)), np.flatnonzero(np.diff(decoded) != 1) + 1)
            probs = torch.sigmoid(logits)
            pair_losses = [psc_loss(probs[run], self.config.psc_pairs) for run in runs if len(run) > 1]
            if pair_losses:
                loss = loss + self.config.lambda_psc * torch.stack(pair_losses).mean()
        self._optimise(optimizer, loss)
        return float(loss.detach())

    def _optimise(self, optimizer, loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.distributed:  # data parallel: every rank applies the mean gradient
            world = dist.get_world_size()
            for group in optimizer.param_groups:
                for parameter in group["params"]:
                    if parameter.grad is None:
                        parameter.grad = torch.zeros_like(parameter)
                    dist.all_reduce(parameter.grad)
                    parameter.grad /= world
        optimizer.step()

    # ----- checkpointing
    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / "train_state.pt"

    def _trainable(self, stage: int) -> list[torch.nn.Parameter]:
        """Stage 1 trains LoRA and the saliency head; stage 2 the mask decoder. Everything else is frozen."""
        if stage == 1:
            params = [p for n, p in self.model.backbone.image_encoder.named_parameters() if "lora_" in n]
            params += list(self.model.saliency_head.parameters())
        else:
            params = list(self.model.backbone.mask_decoder.parameters())
        chosen = {id(p) for p in params}
        for parameter in self.model.parameters():
            parameter.requires_grad = id(parameter) in chosen
        return params

    def _save_state(self, stage: int, optimizer) -> None:
        if self.rank != 0:
            return
        state = {"stage": stage, "step": self.step, "history": json.dumps(self.history),
                 "trainable": {k: v.detach().cpu() for k, v in self.model.state_dict().items()
                               if "lora_" in k or k.startswith("saliency_head") or ".mask_decoder." in f".{k}"},
                 "optimizer": optimizer.state_dict() if optimizer is not None else {}, "rng": json.dumps(self.rng.bit_generator.state)}
        tmp = self.checkpoint_path.with_suffix(".partial")
        torch.save(state, tmp)
        os.replace(tmp, self.checkpoint_path)

    def _resume(self) -> tuple[int, dict | None]:
        if not self.checkpoint_path.is_file():
            return 1, None
        state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
        self.model.load_state_dict(state["trainable"], strict=False)
        self.step, self.history = int(state["step"]), json.loads(state["history"])
        self.rng.bit_generator.state = json.loads(state["rng"])
        log.info("Resuming stage %d at step %d from %s", state["stage"], self.step, self.checkpoint_path)
        return int(state["stage"]), state["optimizer"] or None

    def _stage_steps(self, stage: int) -> int:
        if stage == 1:
            return self.config.stage1_steps if self.adapter.saliency else 0
        return self.config.stage2_steps

    def run(self) -> Path:
        """Train both stages (resuming if a checkpoint exists) and write ``adapter.safetensors``."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        first_stage, optimizer_state = self._resume()
        started = time.perf_counter()
        for stage in (1, 2):
            if stage < first_stage or self._stage_steps(stage) == 0:
                continue
            params = self._trainable(stage)
            learning_rate = self.config.lr if stage == 1 else self.config.decoder_lr
            optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=self.config.weight_decay)
            if optimizer_state is not None and stage == first_stage:
                optimizer.load_state_dict(optimizer_state)
            self.model.train()
            self.model.backbone.image_encoder.eval()  # frozen BatchNorm statistics must not drift
            begin = self.step - (0 if stage == 1 else self._stage_steps(1))
            total = self._stage_steps(stage)
            step_fn = self.stage1_step if stage == 1 else self.stage2_step
            with tqdm(total=total, initial=begin, desc=f"stage {stage}", disable=self.rank != 0) as bar:
                for _ in range(begin, total):
                    loss = step_fn(optimizer)
                    self.step += 1
                    self.history.append({"stage": stage, "step": self.step, "loss": loss})
                    bar.update(1)
                    if loss is not None:
                        bar.set_postfix(loss=f"{loss:.4f}")
                    if self.step % self.config.checkpoint_every == 0:
                        self._save_state(stage, optimizer)
            if stage == 1:
                self._save_state(2, None)
            if self.rank == 0:
                self._save_caches()
            optimizer_state = None
        self.model.eval()
        if self._stage_steps(2) == 0 and self.model.backbone.box_trained:
            # the decoder was not tuned on points, and a box-trained backbone needs boxes
            self.adapter = replace(self.adapter, prompt_mode="boxes")
            self.model.config = self.adapter
        adapter_path = self.out_dir / "adapter.safetensors"
        if self.rank == 0:
            self.model.save_adapter(adapter_path, force=True)
            summary = {"config": asdict(self.config), "adapter": json.loads(self.adapter.to_json()),
                       "cases": [str(c.spec.image) for c in self.cases], "seconds": time.perf_counter() - started,
                       "device": str(self.device), "history": self.history}
            with atomic_output(self.out_dir / "train_log.json", force=True) as tmp:
                tmp.write_text(json_text(summary, indent=1), encoding="utf-8")
        return adapter_path
