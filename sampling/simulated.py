"""A seeded, simulated GPU fleet for the demo, tests and benchmarks.

Every reading is a pure function of (seed, time): jobs are planned per GPU and per UTC
day from a generator seeded with (seed, gpu, day), and the noise on each reading is a
hash of (seed, gpu, second). So backfilled history and the live collector agree, and
two runs with the same seed give the same numbers.

So the demo shows every lab feature, the fleet (with two GPUs or more) also has a Jupyter
notebook that keeps GPU 1's memory all day while it computes nothing (held idle for hours
between other jobs), and its jobs run where a lab's do: in Docker containers (some as
root), in Kubernetes pods, as Slurm jobs (the overnight trainings) or in login sessions.
Each job's workload is derived from the cgroup file such a process has, by the collector's
own parser (sampling.workload).
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass

from sampling.backend import Reading
from sampling.settings import DEFAULTS
from sampling.workload import of_cgroup_text
from store.samples import GpuInfo, GpuSample, ProcessSample

DAY = 86_400
# The energy counter counts from here (as if the driver was loaded then); before it, None.
EPOCH = 1_735_689_600  # 2025-01-01 00:00 UTC
DEFAULT_USERS = ("alice", "bob", "chen", "dana", "emil", "farah")
MASK = (1 << 64) - 1


@dataclass(frozen=True)
class Model:
    """What one GPU model looks like to NVML."""

    name: str
    memory_mib: int
    idle_w: float
    max_w: float
    sm_mhz: int
    mem_mhz: int
    has_fan: bool
    busy_pstate: int


MODELS = (
    Model("NVIDIA GeForce RTX 4090", 24_564, 21.0, 450.0, 2520, 10_501, True, 2),
    Model("NVIDIA A100 80GB PCIe", 81_920, 44.0, 300.0, 1410, 1512, False, 0),
    Model("NVIDIA GeForce RTX 3090", 24_576, 24.0, 350.0, 1695, 9751, True, 2),
    Model("NVIDIA RTX A6000", 49_140, 22.0, 300.0, 1800, 8001, True, 2),
)
COMMANDS = (
    ("python train.py --config configs/{m}.yaml", 0.55, (70, 98)),
    ("torchrun --nproc_per_node=1 finetune.py --model {m}", 0.80, (80, 99)),
    ("python -m ipykernel_launcher -f kernel-{p}.json", 0.20, (5, 30)),
    ("python infer.py --batch 64 --model {m}", 0.35, (30, 65)),
)
MODEL_NAMES = ("resnet50", "llama-7b", "vit-b16", "unet", "bert-large", "whisper-small")
NOTEBOOK_GPU = 1  # the GPU a notebook holds (fleets of two GPUs or more)
NOTEBOOK = "python -m ipykernel_launcher -f /home/{u}/.local/share/jupyter/runtime/kernel-{p}.json"
NOTEBOOK_HOURS = (6, 26)  # starts 06:00 UTC, lives 26 h: one is always open
# Where a job runs, as its /proc/PID/cgroup says (cgroup v2, systemd driver): a template
# for each, taken while a job's stable pick in [0, 1) is below its bound.
CGROUPS = (
    (0.30, "0::/system.slice/docker-{c}.scope"),
    (
        0.45,
        "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{pod}.slice/"
        "cri-containerd-{c}.scope",
    ),
    (1.00, "0::/user.slice/user-{uid}.slice/session-{s}.scope"),
)
SLURM = "0::/system.slice/slurmstepd.scope/job_{j}/step_0"


@dataclass(frozen=True)
class Job:
    """One process running on one GPU from `start` to `end` (UTC seconds)."""

    start: int
    end: int
    user: str
    pid: int
    command: str
    util: int  # nominal utilization, %
    mem_mib: int
    phase: float
    workload: str | None = None  # from the job's cgroup file, as the collector reads it
    workload_id: str | None = None


@dataclass(frozen=True)
class DayPlan:
    """The jobs touching one GPU-day, and its power curve as constant segments."""

    start: int
    jobs: tuple[Job, ...]
    bounds: tuple[int, ...]  # segment starts within the day, ascending
    fracs: tuple[float, ...]  # nominal load (0..1) from each bound to the next
    prefix_j: tuple[float, ...]  # dynamic joules before each bound
    energy_j: float  # whole day, idle included


def mix(*parts: int) -> int:
    """A fast, stable 64-bit hash of integers (splitmix64 rounds)."""
    x = 0x9E3779B97F4A7C15
    for part in parts:
        x = (x ^ (part & MASK)) * 0xBF58476D1CE4E5B9 & MASK
        x ^= x >> 31
        x = x * 0x94D049BB133111EB & MASK
        x ^= x >> 29
    return x


def unit(*parts: int) -> float:
    """A stable pseudo-random number in [0, 1) for the given integers."""
    return mix(*parts) / 18446744073709551616.0


class SimulatedBackend:
    """A deterministic fleet: busy weekday hours, some overnight trainings, quiet nights."""

    name = "simulated"

    def __init__(
        self,
        gpus: int = DEFAULTS.sim_gpus,
        seed: int = DEFAULTS.sim_seed,
        users: tuple[str, ...] | list[str] = DEFAULT_USERS,
        processes: int | None = None,
        threshold: float = DEFAULTS.threshold,
    ) -> None:
        if gpus < 1:
            raise ValueError("gpus must be at least 1")
        self.seed = seed
        self.users = tuple(users) or DEFAULT_USERS
        self.processes = processes
        self.threshold = threshold
        self.models = [MODELS[i % len(MODELS)] for i in range(gpus)]
        self.infos = [self._info(i, m) for i, m in enumerate(self.models)]
        self._plans: dict[tuple[int, int], DayPlan] = {}
        self._energy_before: dict[tuple[int, int], float] = {}
        self._energy_days: dict[int, int] = {}

    def _info(self, index: int, model: Model) -> GpuInfo:
        h = f"{mix(self.seed, index, 1):016x}{mix(self.seed, index, 2):016x}"
        uuid = f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
        return GpuInfo(uuid, index, model.name, f"00000000:{index + 1:02X}:00.0", model.memory_mib)

    def close(self) -> None:
        """Nothing to release."""

    def sample(self, now: float, tick_s: float) -> Reading:
        """Every GPU's readings at `now`, covering the `tick_s` seconds before it."""
        reading = Reading()
        t = int(now)
        for g in range(len(self.infos)):
            sample, procs = self._gpu_sample(g, t, tick_s)
            reading.samples.append(sample)
            reading.processes.extend(procs)
        return reading

    # -- one GPU at one moment -------------------------------------------------------

    def _gpu_sample(self, g: int, t: int, tick_s: float) -> tuple[GpuSample, list[ProcessSample]]:
        model, info = self.models[g], self.infos[g]
        plan = self._plan(g, t // DAY)
        running = [j for j in plan.jobs if j.start <= t < j.end]
        n1, n2, n3 = (unit(self.seed, g, t, k) for k in (1, 2, 3))
        utils = [self._job_util(j, t, n1) for j in running]
        util = min(100, sum(utils))
        working = [j for j in running if j.util > 0]  # a notebook waiting keeps the GPU idle
        load = self._load_at(plan, t)
        power = model.idle_w + (model.max_w - model.idle_w) * load + (n2 - 0.5) * 4
        temp = 29 + 52 * load + 3 * n3 if working else 30 + 3 * n3
        procs = [
            ProcessSample(
                info.uuid, j.pid, j.start, j.user, j.command, j.mem_mib, u, *self._where(j)
            )
            for j, u in zip(running, utils, strict=True)
        ]
        sample = GpuSample(
            gpu=info,
            util=util,
            mem_util=min(100, round(util * 0.45 + 2 * n2)) if working else 0,
            mem_used_mib=min(model.memory_mib, 310 + sum(j.mem_mib for j in running)),
            temp_c=round(temp),
            fan_pct=round(30 + max(0.0, temp - 35) * 1.2) if model.has_fan else None,
            power_w=round(max(model.idle_w * 0.8, power), 1),
            energy_j=self._energy(g, plan, t),
            sm_mhz=model.sm_mhz - round(90 * n3) if working else 210,
            mem_mhz=model.mem_mhz if working else 405,
            pstate=model.busy_pstate if working else 8,
            active_s=self._active_s(g, plan, t, tick_s),
            # The driver's clocks-event bits: GpuIdle (0x1) when idle, SwPowerCap (0x4) at
            # full load; no video work on this fleet.
            clocks_event=0x4 if load > 0.9 else 0 if working else 0x1,
            enc_util=0,
            dec_util=0,
        )
        return sample, procs

    @staticmethod
    def _where(job: Job) -> tuple[str | None, str | None]:
        """The job's workload name and id."""
        return job.workload, job.workload_id

    @staticmethod
    def _job_util(job: Job, t: int, noise: float) -> int:
        if job.util == 0:
            return 0  # a kernel waiting for its user
        wave = math.sin(t / 97.0 + job.phase) * 4
        return max(2, min(100, round(job.util + wave + (noise - 0.5) * 6)))

    @staticmethod
    def _load_at(plan: DayPlan, t: int) -> float:
        i = bisect_right(plan.bounds, t) - 1
        return plan.fracs[i] if i >= 0 else 0.0

    def _active_s(self, g: int, plan: DayPlan, t: int, tick_s: float) -> float:
        """Seconds of (t - tick_s, t] with any job running: exact, so ticks tile the day."""
        lo = t - tick_s
        plans = (self._plan(g, plan.start // DAY - 1), plan) if lo < plan.start else (plan,)
        total = 0.0
        for p in plans:
            ends = (*p.bounds[1:], p.start + DAY)
            for start, end, frac in zip(p.bounds, ends, p.fracs, strict=True):
                if frac > 0:
                    total += max(0.0, min(end, t) - max(start, lo))
        return round(min(total, tick_s), 3)

    def _energy(self, g: int, plan: DayPlan, t: int) -> int | None:
        """Joules since EPOCH: idle power plus the integral of the nominal load."""
        if t < EPOCH:
            return None
        model = self.models[g]
        i = bisect_right(plan.bounds, t) - 1
        dyn = plan.prefix_j[i] + plan.fracs[i] * (t - plan.bounds[i]) if i >= 0 else 0.0
        dyn *= model.max_w - model.idle_w
        return round(self._energy_before_day(g, t // DAY) + model.idle_w * (t - plan.start) + dyn)

    def _energy_before_day(self, g: int, day: int) -> float:
        cached = self._energy_before.get((g, day))
        if cached is not None:
            return cached
        # Walk from the nearest earlier day we know (usually yesterday) or from EPOCH.
        known = self._energy_days.get(g, EPOCH // DAY)
        known = known if known <= day else EPOCH // DAY
        total = self._energy_before.get((g, known), 0.0)
        for d in range(known, day):
            total += self._plan(g, d).energy_j
        if len(self._energy_before) > 4096:
            self._energy_before.clear()
        self._energy_before[(g, day)] = total
        self._energy_days[g] = day
        return total

    # -- planning ----------------------------------------------------------------------

    def _plan(self, g: int, day: int) -> DayPlan:
        key = (g, day)
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) > 256:
                self._plans.clear()  # a bounded cache; plans are cheap to rebuild
            plan = self._plans[key] = self._build_plan(g, day)
        return plan

    def _build_plan(self, g: int, day: int) -> DayPlan:
        start = day * DAY
        jobs = tuple(
            j
            for d in (day - 1, day)
            for j in self._jobs(g, d)
            if j.start < start + DAY and j.end > start
        )
        cuts = {
            start,
            *(max(j.start, start) for j in jobs),
            *(min(j.end, start + DAY) for j in jobs),
        }
        edges = sorted(e for e in cuts if e < start + DAY)
        fracs = [min(1.0, sum(j.util for j in jobs if j.start <= e < j.end) / 100) for e in edges]
        prefix, acc = [], 0.0
        for i, e in enumerate(edges):
            prefix.append(acc)
            nxt = edges[i + 1] if i + 1 < len(edges) else start + DAY
            acc += fracs[i] * (nxt - e)
        model = self.models[g]
        energy = model.idle_w * DAY + acc * (model.max_w - model.idle_w)
        return DayPlan(start, jobs, tuple(edges), tuple(fracs), tuple(prefix), energy)

    def _jobs(self, g: int, day: int) -> list[Job]:
        """The jobs that start on this GPU on this UTC day."""
        rng = random.Random(mix(self.seed, g, day, 7))
        if self.processes is not None:
            return self._steady_jobs(g, day, rng)
        start, weekday = day * DAY, (day + 3) % 7 < 5  # 1970-01-01 was a Thursday
        jobs: list[Job] = []
        if g == NOTEBOOK_GPU and len(self.infos) > NOTEBOOK_GPU:
            jobs.append(self._notebook(g, start))
        if weekday:
            t = start + rng.randint(8 * 3600, 10 * 3600)
            while t < start + 18 * 3600:
                if rng.random() < 0.75:
                    length = int(min(5 * 3600, rng.lognormvariate(math.log(5400), 0.7)))
                    jobs.append(self._job(rng, g, t, max(600, length)))
                    t += length
                t += rng.randint(600, 5400)
        if rng.random() < (0.3 if weekday else 0.12):
            t = start + rng.randint(18 * 3600, 23 * 3600)
            if not jobs or t > jobs[-1].end:
                jobs.append(self._job(rng, g, t, rng.randint(5 * 3600, 14 * 3600), kind=1))
        return jobs

    def _notebook(self, g: int, day_start: int) -> Job:
        """The notebook of the day: opened at 06:00, holding a third of the GPU's memory,
        computing nothing, closed the next morning after the next one opened."""
        user = self.users[0]
        start = day_start + NOTEBOOK_HOURS[0] * 3600
        pid = 2000 + mix(self.seed, g, start, 5) % 4_000_000
        cgroup = f"0::/user.slice/user-1000.slice/user@1000.service/app.slice/jupyter-{pid}.scope"
        found = of_cgroup_text(cgroup)
        return Job(
            start=start,
            end=start + NOTEBOOK_HOURS[1] * 3600,
            user=user,
            pid=pid,
            command=NOTEBOOK.format(u=user, p=pid),
            util=0,
            mem_mib=self.models[g].memory_mib // 3,
            phase=0.0,
            workload=found.name,
            workload_id=found.id,
        )

    def _steady_jobs(self, g: int, day: int, rng: random.Random) -> list[Job]:
        """Benchmark mode: `processes` jobs spread over the GPUs, each running all day."""
        count = self.processes // len(self.infos) + (g < self.processes % len(self.infos))
        return [self._job(rng, g, day * DAY, DAY, kind=0, share=count) for _ in range(count)]

    def _job(
        self, rng: random.Random, g: int, start: int, length: int, kind: int = -1, share: int = 1
    ) -> Job:
        kind = rng.randrange(len(COMMANDS)) if kind < 0 else kind
        template, mem_share, (lo, hi) = COMMANDS[kind]
        pid = 2000 + mix(self.seed, g, start, rng.randrange(1 << 30)) % 4_000_000
        command = template.format(m=rng.choice(MODEL_NAMES), p=pid)
        memory = self.models[g].memory_mib
        user = rng.choice(self.users)
        cgroup = self._cgroup(g, start, pid, slurm=kind == 1 and share == 1)
        found = of_cgroup_text(cgroup)
        # Inside a container a job often runs as root: its workload is then what names it.
        in_container = found.container_id is not None and found.pod_uid is None
        return Job(
            start=start,
            end=start + length,
            user="root" if in_container and unit(self.seed, pid, 13) < 0.5 else user,
            pid=pid,
            command=command,
            util=max(3, rng.randint(lo, hi) // share),
            mem_mib=int(memory * mem_share * rng.uniform(0.6, 1.0) / share),
            phase=rng.uniform(0, 6.28),
            workload=found.name,
            workload_id=found.id,
        )

    def _cgroup(self, g: int, start: int, pid: int, slurm: bool) -> str:
        """The cgroup file of a job's process: a Slurm job for overnight trainings, else a
        Docker container, a Kubernetes pod or a login session (stable per job)."""
        h = f"{mix(self.seed, g, start, 21):016x}{mix(self.seed, g, start, 22):016x}"
        if slurm:
            return SLURM.format(j=10_000 + mix(self.seed, g, start, 23) % 90_000)
        pick = unit(self.seed, g, start, 24)
        template = next(t for bound, t in CGROUPS if pick < bound)
        container = (h * 2)[:64]
        pod = f"{h[:8]}_{h[8:12]}_{h[12:16]}_{h[16:20]}_{h[20:32]}"
        return template.format(c=container, pod=pod, uid=1000 + pid % 7, s=pid % 90)
