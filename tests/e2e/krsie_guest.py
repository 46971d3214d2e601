#!/usr/bin/env python3
"""Host-side runner for KRSIE's guest end-to-end tests (Python 3 stdlib only).

The host kernel cannot load BPF-LSM programs, so enforcement is tested inside a qemu (TCG) guest
running Debian's stock kernel. This tool never runs the guest's test binaries on the host: it only
packs them into an initramfs.

  boot   fetch + cache the guest kernel, build the initramfs, boot it, parse the serial console
         and write a results JSON file (one ctest fixture-setup test).
  check  report one SCENARIO/CHECK from that JSON file (one ctest test per check).

Exit codes: 0 pass, 1 failure, 77 skipped (KRSIE_SKIP_GUEST=1 or a check the guest skipped).
"""

import argparse
import contextlib
import dataclasses
import fcntl
import json
import lzma
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

EXIT_OK, EXIT_FAIL, EXIT_SKIP = 0, 1, 77
SKIP_ENV = "KRSIE_SKIP_GUEST"
KERNEL_ENV = "KRSIE_GUEST_KERNEL"
SKIP_MESSAGE = f"SKIPPED: guest end-to-end tests disabled by {SKIP_ENV}=1"

KERNEL_META_PACKAGE = "linux-image-amd64"
KERNEL_PACKAGE_RE = re.compile(r"^linux-image-\d\S*-amd64$")  # e.g. linux-image-6.1.0-56-amd64
LSM_LIST = "lockdown,capability,landlock,yama,bpf"
GUEST_DRIVER = "krsie-e2e"          # /krsie/bin/krsie-e2e is what the guest /init runs
LSM_CHECK_ID = "guest/lsm-has-bpf"
CONSOLE_TAIL_LINES = 40
HOST_KILL_AFTER = 5                 # seconds between SIGTERM and SIGKILL for a hung qemu
MIN_HOST_TIMEOUT = 30

ELF_MAGIC = b"\x7fELF"
# Compressed payloads a bzImage may carry, by magic (lz4/bzip2/lzo kernels are not supported).
PAYLOAD_MAGICS = (
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x1f\x8b\x08", "gzip"),
    (b"\x5d\x00\x00", "lzma"),
)
MAX_CANDIDATES_PER_FORMAT = 32

PASSWD = ("root:x:0:0:root:/root:/bin/sh\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
GROUP = "root:x:0:\nusers:x:100:\nnogroup:x:65534:\n"
# (path, mode) of the directories every initramfs has; devtmpfs etc. are mounted by /init.
BASE_DIRS = (
    ("bin", 0o755), ("sbin", 0o755), ("usr", 0o755), ("usr/bin", 0o755), ("usr/sbin", 0o755),
    ("proc", 0o555), ("sys", 0o555), ("dev", 0o755), ("tmp", 0o1777), ("run", 0o755),
    ("etc", 0o755), ("root", 0o700),
    ("krsie", 0o755), ("krsie/bin", 0o755), ("krsie/scenarios", 0o755),
)


class GuestError(Exception):
    """A failure with a message meant for the user (printed without a traceback)."""


def log(message):
    print(f"krsie_guest: {message}", file=sys.stderr, flush=True)


def run_tool(cmd, what, cwd=None):
    """Runs a host tool and returns its stdout; raises GuestError with its stderr on failure."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise GuestError(f"{what}: cannot run {cmd[0]}: {exc}") from exc
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise GuestError(f"{what}: `{' '.join(cmd)}` failed (rc={proc.returncode}): {detail}")
    return proc.stdout


# --------------------------------------------------------------------------------------------
# ELF helpers

def elf_interpreter(data):
    """Returns the PT_INTERP path of a 64-bit little-endian ELF, None if it has none (static)."""
    e_phoff, = struct.unpack_from("<Q", data, 0x20)
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(e_phnum):
        off = e_phoff + i * e_phentsize
        p_type, _flags, p_offset = struct.unpack_from("<IIQ", data, off)
        if p_type == 3:  # PT_INTERP
            p_filesz, = struct.unpack_from("<Q", data, off + 0x20)
            return data[p_offset:p_offset + p_filesz].rstrip(b"\0").decode(errors="replace")
    return None


def is_complete_elf64(data):
    """True if data is a 64-bit ELF whose section header table lies inside it (not truncated)."""
    if len(data) < 64 or not data.startswith(ELF_MAGIC) or data[4] != 2:
        return False
    e_shoff, = struct.unpack_from("<Q", data, 0x28)
    e_shentsize, e_shnum = struct.unpack_from("<HH", data, 0x3A)
    return e_shoff + e_shentsize * e_shnum <= len(data)


# --------------------------------------------------------------------------------------------
# Kernel: bzImage -> ELF vmlinux

def _decompress(fmt, blob, limit=None):
    """Decompresses the stream at the start of blob (trailing bytes are ignored).

    With limit, returns at most that many leading output bytes (a cheap probe). Returns b"" when
    the data is not a valid stream of that format."""
    try:
        if fmt == "zstd":  # no zstd module in the stdlib: use the zstd tool
            proc = subprocess.run(["zstd", "-dc", "-q"], input=blob, capture_output=True,
                                  check=False)
            # zstd fails on the bytes that follow the frame; the output is still complete.
            return proc.stdout[:limit] if limit else proc.stdout
        if fmt == "gzip":
            dec = zlib.decompressobj(wbits=31)
            return dec.decompress(blob, limit) if limit else dec.decompress(blob)
        dec = lzma.LZMADecompressor(lzma.FORMAT_XZ if fmt == "xz" else lzma.FORMAT_ALONE)
        return dec.decompress(blob, max_length=limit or -1)
    except (zlib.error, lzma.LZMAError, OSError, EOFError):
        return b""


def _payload_candidates(image):
    """Yields (offset, format) of every compression magic in image, lowest offset first."""
    found = []
    for magic, fmt in PAYLOAD_MAGICS:
        start = 0
        for _ in range(MAX_CANDIDATES_PER_FORMAT):
            off = image.find(magic, start)
            if off < 0:
                break
            found.append((off, fmt))
            start = off + 1
    return sorted(found)


def extract_vmlinux(image):
    """Returns the ELF vmlinux compressed inside a bzImage (bytes)."""
    if image.startswith(ELF_MAGIC):
        return image
    for off, fmt in _payload_candidates(image):
        blob = image[off:]
        if _decompress(fmt, blob, limit=4) != ELF_MAGIC:
            continue
        data = _decompress(fmt, blob)
        if is_complete_elf64(data):
            return data
    raise GuestError("no xz/zstd/gzip/lzma payload holding an ELF vmlinux found in the bzImage")


# --------------------------------------------------------------------------------------------
# Kernel: Debian package download and cache

@dataclasses.dataclass
class Kernel:
    path: Path
    source: str                      # "env", "cache" or "download"
    package: str = ""
    timings: dict = dataclasses.field(default_factory=dict)


def kernel_package():
    """(name, version) of the linux-image-*-amd64 package linux-image-amd64 depends on.

    Reads the metapackage's Depends field with `apt-cache show` (the same answer as
    `apt-cache depends`, plus the pinned version): one apt call, ~0.6 s when apt's binary
    cache is disabled as in container images."""
    out = run_tool(["apt-cache", "show", "--no-all-versions", KERNEL_META_PACKAGE],
                   f"resolving the guest kernel package (try `apt-get update`, or set {KERNEL_ENV}"
                   " to an ELF vmlinux)")
    depends = next((line.split(":", 1)[1] for line in out.splitlines()
                    if line.startswith("Depends:")), "")
    for alternative in re.split(r"[,|]", depends):
        match = re.match(r"\s*(\S+)\s*(?:\(\s*=\s*([^)\s]+)\s*\))?", alternative)
        if match and KERNEL_PACKAGE_RE.match(match.group(1)):
            return match.group(1), match.group(2)
    raise GuestError(f"{KERNEL_META_PACKAGE} depends on no linux-image-*-amd64 package:\n{out}")


def deb_filename(package, version):
    """The .deb file name apt-get download gives package (the cache key)."""
    if version is None:  # unpinned dependency: ask apt for the candidate version
        out = run_tool(["apt-cache", "show", "--no-all-versions", package],
                       f"looking up {package}")
        version = next((line.split(":", 1)[1].strip() for line in out.splitlines()
                        if line.startswith("Version:")), None)
        if version is None:
            raise GuestError(f"`apt-cache show {package}` gives no Version")
    return f"{package}_{version.replace(':', '%3a')}_amd64.deb"


def download_deb(package, dest):
    """apt-get downloads package to dest (in a scratch dir first, so dest is never partial)."""
    cmd = ["apt-get", "download", "-q"]
    if os.geteuid() == 0:  # root: the _apt sandbox user cannot write our directory
        cmd += ["-o", "APT::Sandbox::User=root"]
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".download-") as scratch:
        run_tool(cmd + [package], f"downloading the guest kernel {package} (needs the network "
                 f"once; run `apt-get update` if the mirror no longer has it, or set {KERNEL_ENV} "
                 "to an ELF vmlinux)", cwd=scratch)
        debs = sorted(Path(scratch).glob("*.deb"))
        if len(debs) != 1:
            raise GuestError(f"apt-get download {package} produced {[d.name for d in debs]}")
        os.replace(debs[0], dest)


def bzimage_from_deb(deb, scratch):
    """Unpacks only ./boot of the kernel package into scratch; returns the vmlinuz bytes."""
    what = f"unpacking ./boot of {deb.name}"
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as dpkg:
        tar = subprocess.run(["tar", "-x", "-C", str(scratch), "./boot"], stdin=dpkg.stdout,
                             capture_output=True, text=True, check=False)
        dpkg.stdout.close()
        dpkg_err = dpkg.stderr.read().decode(errors="replace").strip()
    # tar first: when tar fails, dpkg-deb's failure is usually just the broken pipe.
    if tar.returncode != 0:
        raise GuestError(f"{what}: tar failed (rc={tar.returncode}): {tar.stderr.strip()} "
                         f"{dpkg_err}".strip())
    if dpkg.returncode != 0:
        raise GuestError(f"{what}: dpkg-deb failed (rc={dpkg.returncode}): {dpkg_err}")
    images = sorted(Path(scratch, "boot").glob("vmlinuz-*"))
    if len(images) != 1:
        raise GuestError(f"{deb.name} holds {len(images)} boot/vmlinuz-* files, expected 1")
    return images[0].read_bytes()


def atomic_write(path, data):
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@contextlib.contextmanager
def locked(directory):
    """Serializes kernel-cache updates between concurrent runners."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def kernel_from_env(path_text):
    path = Path(path_text)
    if not path.is_file():
        raise GuestError(f"{KERNEL_ENV}={path_text}: no such file")
    with open(path, "rb") as f:
        head = f.read(4)
    if head != ELF_MAGIC:
        raise GuestError(f"{KERNEL_ENV}={path_text} is not an ELF vmlinux (a bzImage must be "
                         "unpacked first; unset the variable to let krsie_guest.py do it)")
    return Kernel(path=path.resolve(), source="env")


def prune_kernel_cache(cache_dir, keep_stem):
    """Deletes older kernels this tool cached (X.vmlinux and the X.deb it came from); other
    files are left alone in case the cache directory is shared."""
    for vmlinux in cache_dir.glob("linux-image-*.vmlinux"):
        if vmlinux.stem != keep_stem:
            log(f"removing the stale cached kernel {vmlinux.stem}")
            vmlinux.with_suffix(".deb").unlink(missing_ok=True)
            vmlinux.unlink(missing_ok=True)


def kernel_from_apt(cache_dir):
    """Returns the cached vmlinux of the current Debian kernel, downloading it if needed."""
    package, version = kernel_package()
    deb_name = deb_filename(package, version)
    vmlinux = cache_dir / (Path(deb_name).stem + ".vmlinux")
    kernel = Kernel(path=vmlinux, source="cache", package=package)
    with locked(cache_dir):
        if vmlinux.is_file():
            return kernel
        deb = cache_dir / deb_name
        if not deb.is_file():
            log(f"downloading {deb_name} into {cache_dir}")
            started = time.monotonic()
            download_deb(package, deb)
            kernel.timings["download_seconds"] = round(time.monotonic() - started, 2)
        log(f"extracting the ELF vmlinux from {deb_name}")
        started = time.monotonic()
        with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".unpack-") as scratch:
            atomic_write(vmlinux, extract_vmlinux(bzimage_from_deb(deb, scratch)))
        kernel.timings["extract_seconds"] = round(time.monotonic() - started, 2)
        kernel.source = "download"
        prune_kernel_cache(cache_dir, vmlinux.stem)
    return kernel


def resolve_kernel(cache_dir):
    env = os.environ.get(KERNEL_ENV)
    return kernel_from_env(env) if env else kernel_from_apt(cache_dir)


# --------------------------------------------------------------------------------------------
# Initramfs: cpio "newc", written directly (no root needed, deterministic: mtime 0, owner 0:0)

class NewcWriter:
    """Streams a cpio newc archive; creates missing parent directories automatically."""

    S_IFDIR, S_IFREG, S_IFLNK, S_IFCHR = 0o040000, 0o100000, 0o120000, 0o020000

    def __init__(self, out):
        self._out = out
        self._inode = 0
        self._paths = set()

    def _entry(self, name, mode, data=b"", nlink=1, rdev=(0, 0)):
        name_bytes = name.encode() + b"\0"
        self._inode += 1
        fields = (self._inode, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1],
                  len(name_bytes), 0)
        header = b"070701" + b"".join(b"%08X" % value for value in fields)
        self._write_padded(header + name_bytes)
        self._write_padded(data)

    def _write_padded(self, data):
        self._out.write(data)
        self._out.write(b"\0" * (-len(data) % 4))

    def _claim(self, path):
        """Registers path (relative, no leading /) after creating its parents."""
        path = path.strip("/")
        if path in self._paths:
            raise GuestError(f"initramfs: /{path} added twice")
        parent = os.path.dirname(path)
        if parent and parent not in self._paths:
            self.add_dir(parent)
        self._paths.add(path)
        return path

    def exists(self, path):
        return path.strip("/") in self._paths

    def add_dir(self, path, perm=0o755):
        self._entry(self._claim(path), self.S_IFDIR | perm, nlink=2)

    def add_file(self, path, data, perm=0o644):
        self._entry(self._claim(path), self.S_IFREG | perm, data)

    def add_symlink(self, path, target):
        self._entry(self._claim(path), self.S_IFLNK | 0o777, target.encode())

    def add_chardev(self, path, perm, major, minor):
        self._entry(self._claim(path), self.S_IFCHR | perm, rdev=(major, minor))

    def finish(self):
        self._entry("TRAILER!!!", 0)


def busybox_applets(busybox):
    """Applet paths (e.g. "bin/sh", "sbin/poweroff") from `busybox --list-full`."""
    out = run_tool([str(busybox), "--list-full"], "listing busybox applets")
    return [line.strip().strip("/") for line in out.splitlines() if line.strip()]


def read_static_busybox(busybox):
    data = busybox.read_bytes()
    if not data.startswith(ELF_MAGIC) or elf_interpreter(data) is not None:
        raise GuestError(f"{busybox} is not a statically linked ELF: install busybox-static")
    return data


def read_guest_binary(path):
    """Reads a --bin file; warns when it is a dynamically linked ELF (it would not run)."""
    data = path.read_bytes()
    if data.startswith(ELF_MAGIC) and data[4] == 2 and elf_interpreter(data) is not None:
        log(f"WARNING: {path} is dynamically linked ({elf_interpreter(data)}); the guest has no "
            "shared libraries, link it statically")
    return data


def add_tree(writer, source, dest):
    """Copies the directory tree source to dest (subdirs, files, symlinks; sorted order)."""
    for root, dirs, files in os.walk(source):
        dirs.sort()
        rel_root = os.path.relpath(root, source)
        target_root = dest if rel_root == "." else f"{dest}/{rel_root}"
        for name in dirs + sorted(files):
            src = os.path.join(root, name)
            target = f"{target_root}/{name}"
            st = os.lstat(src)
            if os.path.islink(src):
                writer.add_symlink(target, os.readlink(src))
            elif name in dirs:
                writer.add_dir(target, 0o755)
            elif os.path.isfile(src):
                writer.add_file(target, Path(src).read_bytes(), (st.st_mode & 0o777) | 0o444)
            else:
                raise GuestError(f"{src}: only directories, files and symlinks can be copied")


def scenario_header(text, where):
    """(name, backends, check names) of a scenario file's text."""
    name, backends, checks = None, ["generic"], []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split() if not line.lstrip().startswith("#") else []
        if not words:
            continue
        if words[0] == "scenario" and len(words) >= 2:
            name = words[1]
        elif words[0] == "backends":
            backends = words[1:]
        elif words[0] in ("expect", "expect-event") and len(words) >= 2:
            checks.append(words[1])
    if not name:
        raise GuestError(f"{where}: missing 'scenario NAME' line")
    return name, backends, checks


def select_scenarios(staged, only, backends):
    """Keeps only the scenarios named in `only` (all when empty) and, when `backends` is given,
    runs them with those backends instead of their own `backends` line."""
    found = set()
    for scn in sorted(staged.rglob("*.scn")):
        text = scn.read_text()
        name, _, _ = scenario_header(text, scn)
        if only and name not in only:
            scn.unlink()
            continue
        found.add(name)
        if backends:
            lines = [l for l in text.splitlines() if l.split("#", 1)[0].split()[:1] != ["backends"]]
            at = next(i for i, l in enumerate(lines) if l.split("#", 1)[0].split()[:1] == ["scenario"])
            lines.insert(at + 1, "backends " + " ".join(backends))
            scn.write_text("\n".join(lines) + "\n")
    missing = sorted(set(only or []) - found)
    if missing:
        raise GuestError(f"no scenario named {', '.join(missing)} in the scenarios directory")


def stage_scenarios(source, staged, krsiec, only=None, backends=None):
    """Copies the scenarios to `staged` (only those named in `only`, when given, with `backends`
    instead of their own when given) and compiles every policy (.krs) next to them into a
    policy.o with krsiec on the host, as a user would: the guest only loads objects."""
    if staged.exists():
        shutil.rmtree(staged)
    shutil.copytree(source, staged)
    select_scenarios(staged, only, backends)
    # Generated policies: NAME.gen.py writes NAME.krs (large policies are not committed as text).
    for gen in sorted(staged.rglob("*.gen.py")):
        target = gen.with_name(gen.name[: -len(".gen.py")] + ".krs")
        proc = subprocess.run([sys.executable, str(gen), str(target)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise GuestError(f"{gen.name} failed (exit {proc.returncode}):\n{proc.stderr.strip()}")
        gen.unlink()
    policies = sorted(staged.rglob("*.krs"))
    if policies and not krsiec:
        raise GuestError(f"{source} has policies (.krs) but no --krsiec was given to compile them")
    # Which backends each policy is needed for: a scenario's `backends` line (default: generic)
    # applies to the policies it loads (`load NAME.krs`) and to the objects its commands name
    # (/krsie/scenarios/NAME.o). Policies no scenario names are compiled by the generic backend.
    needs = {}
    for scn in sorted(staged.rglob("*.scn")):
        text = scn.read_text()
        lines = [l.split("#", 1)[0].split() for l in text.splitlines()]
        backends = next((w[1:] for w in lines if w and w[0] == "backends"), ["generic"])
        names = {w[1] for w in lines if len(w) == 2 and w[0] == "load"}
        names |= {m + ".krs" for m in re.findall(r"/krsie/scenarios/([A-Za-z0-9_.-]+)\.o", text)}
        for name in names:
            needs.setdefault((scn.parent / name).resolve(), set()).update(backends)
    if only:  # only what the selected scenarios use (others may need another backend)
        for krs in policies:
            if krs.resolve() not in needs:
                krs.unlink()
        policies = [krs for krs in policies if krs.resolve() in needs]
    twins = 0
    for krs in policies:
        for backend in sorted(needs.get(krs.resolve(), {"generic"})):
            # The LLVM backend's object goes to llvm/NAME.o, compiled from the same source path
            # (rule sources in events are identical between the two runs of a scenario).
            obj = krs.with_suffix(".o") if backend == "generic" else krs.parent / "llvm" / (krs.stem + ".o")
            obj.parent.mkdir(parents=True, exist_ok=True)
            proc = subprocess.run([str(krsiec), f"--backend={backend}", str(krs), "-o", str(obj)], capture_output=True,
                                  text=True, check=False)
            if proc.returncode != 0:
                raise GuestError(f"krsiec --backend={backend} failed on {krs.relative_to(staged)} (exit "
                                 f"{proc.returncode}):\n{proc.stderr.strip()}")
            twins += backend == "llvm"
    log(f"compiled {len(policies)} policies with {krsiec} (+{twins} with --backend=llvm)")
    return staged


def build_initramfs(out_path, init_script, busybox, bins, scenarios):
    """Writes the guest initramfs (uncompressed cpio newc) to out_path."""
    tmp = out_path.with_name(out_path.name + ".tmp")
    with open(tmp, "wb") as out:
        writer = NewcWriter(out)
        for path, perm in BASE_DIRS:
            writer.add_dir(path, perm)
        writer.add_chardev("dev/console", 0o600, 5, 1)  # init's stdio before devtmpfs
        writer.add_chardev("dev/null", 0o666, 1, 3)
        writer.add_file("bin/busybox", read_static_busybox(busybox), 0o755)
        for applet in busybox_applets(busybox):
            if not writer.exists(applet):
                writer.add_symlink(applet, "/bin/busybox")
        writer.add_file("etc/passwd", PASSWD.encode())
        writer.add_file("etc/group", GROUP.encode())
        writer.add_file("init", init_script.read_bytes(), 0o755)
        for binary in bins:
            writer.add_file(f"krsie/bin/{binary.name}", read_guest_binary(binary), 0o755)
        add_tree(writer, scenarios, "krsie/scenarios")
        writer.finish()
    os.replace(tmp, out_path)


# --------------------------------------------------------------------------------------------
# Boot

def guest_timeout(host_timeout):
    """The driver's timeout inside the guest: strictly below the host's, leaving room for the
    boot (slow under TCG on a loaded machine), the driver's SIGKILL grace and poweroff."""
    margin = max(20, min(60, host_timeout // 4))
    return host_timeout - margin


def qemu_command(kernel, initramfs, host_timeout, append, tcg_threads="multi"):
    """Two vCPUs. `tcg_threads`: "multi" runs each vCPU in its own host thread (the default: both
    cores busy, as on a real machine); "single" runs both vCPUs in one host thread, taking turns.
    The LLVM backend's replacement soft-locks the guest under multi-threaded TCG, and not under
    single-threaded TCG (docs/llvm-backend.md, known issue): its check boots that way."""
    return [
        "timeout", f"--kill-after={HOST_KILL_AFTER}", str(host_timeout),
        "qemu-system-x86_64", "-M", "pc", "-accel", f"tcg,thread={tcg_threads}", "-cpu", "max",
        "-m", "1G", "-smp", "2", "-nodefaults", "-no-user-config", "-display", "none",
        "-monitor", "none", "-serial", "stdio", "-no-reboot",
        "-kernel", str(kernel), "-initrd", str(initramfs), "-append", append,
    ]


@dataclasses.dataclass
class GuestRun:
    lines: list
    returncode: int
    seconds: float                   # qemu start to the end marker (or to qemu's exit)
    first_line_seconds: float
    stderr: str


def run_guest(cmd, console_path, stderr_path):
    """Runs qemu, streaming the serial console (\\r stripped) to console_path as it arrives."""
    lines, end_at, first_at = [], None, None
    started = time.monotonic()
    with open(console_path, "w", encoding="utf-8") as console, open(stderr_path, "wb") as err:
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=err)
        except OSError as exc:
            raise GuestError(f"cannot start {cmd[0]}: {exc}") from exc
        with proc:
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace").replace("\r", "").rstrip("\n")
                console.write(line + "\n")
                console.flush()
                lines.append(line)
                now = time.monotonic() - started
                first_at = now if first_at is None else first_at
                if end_at is None and "KRSIE-GUEST-END" in line:
                    end_at = now
            returncode = proc.wait()
    total = time.monotonic() - started
    return GuestRun(lines=lines, returncode=returncode, seconds=round(end_at or total, 2),
                    first_line_seconds=round(first_at or total, 2),
                    stderr=Path(stderr_path).read_text(errors="replace"))


# --------------------------------------------------------------------------------------------
# Console parsing

RESULT_STATUSES = ("PASS", "FAIL", "SKIP")
# Kernel messages (timestamped, as Debian's kernel prints them) that signal a kernel problem.
KERNEL_PROBLEM_RE = re.compile(r"\[\s*\d+\.\d+\] .*(Kernel panic|Oops|BUG:|"
                               r"general protection fault|WARNING: CPU|Call Trace:)")


def _marker(line):
    """Splits a console line into (tag, rest) if it carries a KRSIE-* marker, else None.

    The marker is searched anywhere in the line: a kernel message may have been printed on the
    console in front of it."""
    at = line.find("KRSIE-")
    if at < 0:
        return None
    tag, _, rest = line[at:].partition(" ")
    return tag, rest.strip()


def _add_result(parsed, rest, line):
    fields = rest.split(None, 3)
    if len(fields) < 3:
        parsed["warnings"].append(f"malformed result line: {line}")
        return
    scenario, check, status = fields[:3]
    detail = fields[3] if len(fields) > 3 else ""
    key = f"{scenario}/{check}"
    if status not in RESULT_STATUSES:
        status, detail = "FAIL", f"malformed result line (status {status!r}): {line}"
    if key in parsed["checks"]:  # a check reported twice is suspicious: never let it pass
        status, detail = "FAIL", f"reported more than once; last: {line}"
    parsed["checks"][key] = {"status": status, "detail": detail}


def parse_console(lines):
    """Extracts everything KRSIE-* from the console lines."""
    parsed = {"begin": False, "end_rc": None, "kernel": None, "lsm": None, "timeout": None,
              "driver": None, "summary": None, "checks": {}, "events": {}, "warnings": [],
              "driver_errors": [], "kernel_problems": []}
    for line in lines:
        if KERNEL_PROBLEM_RE.search(line):
            parsed["kernel_problems"].append(line)
        marker = _marker(line)
        if marker is None:
            continue
        tag, rest = marker
        if tag == "KRSIE-RESULT":
            _add_result(parsed, rest, line)
        elif tag == "KRSIE-EVENT":
            scenario, _, text = rest.partition(" ")
            parsed["events"].setdefault(scenario, []).append(text)
        elif tag == "KRSIE-GUEST-BEGIN":
            parsed["begin"] = True
        elif tag == "KRSIE-GUEST-END":
            match = re.match(r"rc=(-?\d+)", rest)
            parsed["end_rc"] = int(match.group(1)) if match else -1
        elif tag == "KRSIE-KERNEL":
            parsed["kernel"] = rest
        elif tag == "KRSIE-LSM":
            parsed["lsm"] = rest
        elif tag == "KRSIE-TIMEOUT":
            parsed["timeout"] = rest
        elif tag == "KRSIE-WARN":
            parsed["warnings"].append(rest)
        elif tag == "KRSIE-ERROR":  # the driver could not run something (e.g. a bad scenario)
            parsed["driver_errors"].append(rest)
        elif tag == "KRSIE-SUMMARY":
            parsed["summary"] = rest
        elif tag == "KRSIE-DRIVER-MISSING":
            parsed["driver"] = f"the guest has no driver {rest} (pass it with --bin)"
        elif tag == "KRSIE-DRIVER-TIMEOUT":
            parsed["driver"] = f"the guest driver timed out after {rest} s and was killed"
        elif tag == "KRSIE-DRIVER-SIGNAL":
            parsed["driver"] = f"the guest driver died from signal {rest}"
    return parsed


def lsm_check(lsm):
    if lsm is None:
        return {"status": "FAIL", "detail": "the guest printed no KRSIE-LSM line"}
    active = lsm.split(",")
    status = "PASS" if "bpf" in active else "FAIL"
    return {"status": status, "detail": f"active LSMs: {lsm or '(empty)'}"}


def run_error(run, parsed, host_timeout):
    """The reason the guest run is unusable or incomplete, or None if it went fine."""
    panic = next((l for l in parsed["kernel_problems"] if "Kernel panic" in l), None)
    if panic:
        return f"guest kernel panic: {panic.strip()}"
    if run.returncode in (124, 137) and parsed["end_rc"] is None:
        return f"the guest did not finish within {host_timeout} s (host timeout killed qemu)"
    if not parsed["begin"]:
        stderr = run.stderr.strip()[-2000:]
        return (f"the guest /init never started (no KRSIE-GUEST-BEGIN; qemu rc={run.returncode})"
                + (f"; qemu stderr: {stderr}" if stderr else ""))
    if parsed["end_rc"] is None:
        return f"the guest stopped before KRSIE-GUEST-END (qemu rc={run.returncode})"
    return parsed["driver"]


def build_results(run, parsed, console_path, host_timeout, extra):
    checks = dict(parsed["checks"])
    checks[LSM_CHECK_ID] = lsm_check(parsed["lsm"])
    return {
        "complete": parsed["end_rc"] is not None,
        "error": run_error(run, parsed, host_timeout),
        "kernel": parsed["kernel"],
        "lsm": parsed["lsm"],
        "boot_seconds": run.seconds,
        "console": str(console_path),
        "checks": checks,
        "events": parsed["events"],
        "driver_rc": parsed["end_rc"],
        "qemu_rc": run.returncode,
        "guest_timeout": parsed["timeout"],
        "driver_summary": parsed["summary"],
        "driver_errors": parsed["driver_errors"],
        "warnings": parsed["warnings"],
        "kernel_problems": parsed["kernel_problems"],
        **extra,
    }


# --------------------------------------------------------------------------------------------
# Subcommands

def preflight():
    """Fails loudly (never skips) when a host tool is missing."""
    for tool, package in (("qemu-system-x86_64", "qemu-system-x86"), ("timeout", "coreutils"),
                          ("dpkg-deb", "dpkg")):
        if shutil.which(tool) is None:
            raise GuestError(f"{tool} not found: install {package} (see scripts/setup), or set "
                             f"{SKIP_ENV}=1 to skip the guest end-to-end tests explicitly")


def check_inputs(args):
    for binary in args.bin:
        if not binary.is_file():
            raise GuestError(f"--bin {binary}: no such file")
    names = [b.name for b in args.bin]
    if GUEST_DRIVER not in names:
        log(f"WARNING: no --bin named {GUEST_DRIVER}: the guest will run no scenarios")
    if not args.scenarios.is_dir():
        raise GuestError(f"--scenarios {args.scenarios}: not a directory")
    if not args.init.is_file():
        raise GuestError(f"guest init script {args.init} not found")
    if args.timeout < MIN_HOST_TIMEOUT:
        raise GuestError(f"--timeout must be at least {MIN_HOST_TIMEOUT} s")


def failure_results(message):
    """Results for a run that failed before or while starting the guest: every check fails
    with the reason instead of finding a stale or missing file."""
    return {"complete": False, "error": message, "kernel": None, "lsm": None,
            "boot_seconds": 0.0, "console": None, "checks": {}, "events": {}}


def write_results(path, results):
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, (json.dumps(results, indent=2) + "\n").encode())


def cmd_boot(args):
    args.results.unlink(missing_ok=True)  # never leave a previous run's results behind
    try:
        return boot(args)
    except GuestError as exc:
        write_results(args.results, failure_results(str(exc)))
        raise


def boot(args):
    preflight()
    check_inputs(args)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    cache = (args.kernel_cache or work / "kernel-cache").resolve()

    started = time.monotonic()
    kernel = resolve_kernel(cache)
    timings = {**kernel.timings, "kernel_seconds": round(time.monotonic() - started, 2)}
    log(f"kernel: {kernel.path} ({kernel.source})")

    started = time.monotonic()
    scenarios = stage_scenarios(args.scenarios, work / "scenarios", args.krsiec, args.only, args.backends)
    timings["policy_compile_seconds"] = round(time.monotonic() - started, 2)

    started = time.monotonic()
    initramfs = work / "initramfs.cpio"
    build_initramfs(initramfs, args.init, args.busybox, args.bin, scenarios)
    timings["initramfs_seconds"] = round(time.monotonic() - started, 2)

    driver_timeout = guest_timeout(args.timeout)
    append = f"console=ttyS0 lsm={LSM_LIST} panic=-1 quiet krsie.timeout={driver_timeout}"
    if args.append:
        append += " " + args.append
    console_path = work / "console.log"
    log(f"booting the guest (host timeout {args.timeout} s, guest {driver_timeout} s); "
        f"console: {console_path}")
    run = run_guest(qemu_command(kernel.path, initramfs, args.timeout, append, args.tcg_threads), console_path,
                    work / "qemu.stderr")
    timings["first_console_line_seconds"] = run.first_line_seconds

    extra = {"kernel_image": str(kernel.path), "kernel_package": kernel.package,
             "kernel_source": kernel.source, "timings": timings}
    results = build_results(run, parse_console(run.lines), console_path, args.timeout, extra)
    write_results(args.results, results)
    return report_boot(results, args.results)


def report_boot(results, results_path):
    counts = {}
    for check in results["checks"].values():
        counts[check["status"]] = counts.get(check["status"], 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    ended = ("reached KRSIE-GUEST-END" if results["complete"]
             else "ended WITHOUT KRSIE-GUEST-END")
    log(f"guest kernel {results['kernel']}, LSMs {results['lsm']}; {ended} after "
        f"{results['boot_seconds']} s; checks: {summary}; results: {results_path}")
    for problem in results["kernel_problems"]:
        log(f"guest kernel problem: {problem}")
    for error in results["driver_errors"]:
        log(f"guest driver error: {error}")
    if results["error"]:
        log(f"ERROR: {results['error']}")
        print_console_tail(results)
        return EXIT_FAIL
    return EXIT_OK


def console_tail(console_path, count=CONSOLE_TAIL_LINES):
    try:
        lines = Path(console_path).read_text(errors="replace").splitlines()
    except OSError as exc:
        return [f"(console log unreadable: {exc})"]
    return lines[-count:]


def print_console_tail(results):
    path = results.get("console")
    if not path:
        print("(the guest was not started: no console log)")
        return
    print(f"--- last {CONSOLE_TAIL_LINES} console lines ({path}) ---")
    for line in console_tail(path):
        print(line)
    print("--- end of console ---")


def load_results(path):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise GuestError(f"{path} does not exist: the guest boot (krsie_guest.py boot) did not "
                         "run or failed before writing results") from None
    except (OSError, ValueError) as exc:
        raise GuestError(f"cannot read {path}: {exc}") from exc


def cmd_check(args):
    results = load_results(args.results)
    check_id = args.id
    scenario = check_id.split("/", 1)[0]
    if not results.get("complete"):
        print(f"FAIL {check_id}: the guest run did not complete: {results.get('error')}")
        print_console_tail(results)
        return EXIT_FAIL
    check = results.get("checks", {}).get(check_id)
    if results.get("error"):
        print(f"NOTE: the guest run reported an error: {results['error']}")
    if check is None:
        known = sorted(k for k in results.get("checks", {}) if k.startswith(scenario + "/"))
        print(f"FAIL {check_id}: no such check in {args.results}; "
              f"{scenario} reported: {', '.join(known) or 'nothing'}")
        print_failure_context(results, scenario)
        return EXIT_FAIL
    status, detail = check["status"], check["detail"]
    if status == "PASS":
        print(f"PASS {check_id}: {detail}")
        return EXIT_OK
    if status == "SKIP":
        print(f"SKIPPED: {check_id}: {detail}")
        return EXIT_SKIP
    print(f"FAIL {check_id}: {detail}")
    print_failure_context(results, scenario)
    return EXIT_FAIL


def print_failure_context(results, scenario):
    for problem in results.get("kernel_problems", []):
        print(f"guest kernel problem: {problem}")
    for error in results.get("driver_errors", []):
        print(f"guest driver error: {error}")
    print_console_tail(results)
    events = results.get("events", {}).get(scenario, [])
    print(f"--- events of {scenario} ({len(events)}) ---")
    for event in events:
        print(event)


def plain_words(detail):
    """'in target: open-read /x -> EPERM (expected EPERM)' -> a sentence for the demo."""
    head, _, rest = detail.partition(": ")
    action, _, outcome = rest.partition(" -> ")
    got = outcome.split(" (", 1)[0]
    if action.startswith("sh "):
        verdict = "script succeeded" if got == "ok" else f"script ended with {got}"
    else:
        verdict = "DENIED (Operation not permitted)" if got == "EPERM" else (
            "allowed" if got == "ok" else got)
    where = head.replace("in ", "", 1)
    where = "outside any policy (root cgroup)" if where == "root" else f"in cgroup '{where}'"
    return f"{where}: {action} -> {verdict}"


def cmd_summary(args):
    """Human summary of a results file, for scripts/demo."""
    results = load_results(args.results)
    print(f"guest kernel {results.get('kernel')} with LSMs {results.get('lsm')}")
    if not results.get("complete"):
        print(f"the guest run did not complete: {results.get('error')}")
        return EXIT_FAIL
    by_scenario = {}
    for check_id, check in sorted(results.get("checks", {}).items()):
        scenario, _, name = check_id.partition("/")
        by_scenario.setdefault(scenario, []).append((name, check))
    failed = 0
    for scenario, checks in by_scenario.items():
        print(f"\nscenario {scenario}:")
        for name, check in checks:
            ok = check["status"] == "PASS"
            failed += not ok
            mark = "ok  " if ok else "FAIL"
            text = plain_words(check["detail"]) if " -> " in check["detail"] else check["detail"]
            print(f"  [{mark}] {name}: {text}")
        events = results.get("events", {}).get(scenario, [])
        if events:
            print(f"  events reported by the kernel side ({len(events)}):")
            for event in events:
                print(f"    {event}")
    total = sum(len(c) for c in by_scenario.values())
    print(f"\n{total - failed} of {total} checks behaved as the policy says")
    return EXIT_OK if failed == 0 else EXIT_FAIL


def scenario_check_ids(scenarios, only=None, backends=None):
    """Every check id (RUN/CHECK) the scenarios under `scenarios` define, in order: a scenario
    with `backends generic llvm` runs as NAME and NAME.llvm (llvm only: NAME.llvm). This is what
    CMake registers as ctest tests (parsing .scn files in CMake mangles lines with ; or [).
    `only` and `backends` select and override as `boot --only/--backends` do."""
    ids, found = [], set()
    for scn in sorted(Path(scenarios).rglob("*.scn")):
        name, own_backends, checks = scenario_header(scn.read_text(), scn)
        if only and name not in only:
            continue
        found.add(name)
        for backend in ("generic", "llvm"):
            if backend in (backends or own_backends):
                run = name if backend == "generic" else name + ".llvm"
                ids.extend(f"{run}/{c}" for c in checks)
    missing = sorted(set(only or []) - found)
    if missing:
        raise GuestError(f"no scenario named {', '.join(missing)} in {scenarios}")
    return ids


def cmd_with_kernel(args):
    """Runs a command with KRSIE_GUEST_VMLINUX set to the kernel image the boot used, so that host
    tests of the guest kernel's BTF (the hook catalogue) run in every build that ran the guest:
    unit tests start before e2e/boot has downloaded the kernel."""
    results = load_results(args.results)
    image = results.get("kernel_image")
    if not image or not Path(image).is_file():
        print(f"FAIL: {args.results} names no guest kernel image that exists ({image!r}): "
              f"the boot did not get as far as the kernel: {results.get('error')}")
        return EXIT_FAIL
    command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not command:
        print("FAIL: with-kernel needs a command after --")
        return EXIT_FAIL
    env = dict(os.environ, KRSIE_GUEST_VMLINUX=image)
    return subprocess.run(command, env=env).returncode


def cmd_list_checks(args):
    for check_id in scenario_check_ids(args.scenarios, args.only, args.backends):
        print(check_id)
    return EXIT_OK


def parse_args(argv):
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    boot = sub.add_parser("boot", help="boot the guest and write the results JSON")
    boot.add_argument("--work", type=Path, required=True, help="scratch dir (console.log, cpio)")
    boot.add_argument("--bin", type=Path, nargs="+", required=True,
                      help="static executables copied to the guest's /krsie/bin/")
    boot.add_argument("--scenarios", type=Path, required=True,
                      help="directory copied to the guest's /krsie/scenarios/")
    boot.add_argument("--results", type=Path, required=True, help="results JSON to write")
    boot.add_argument("--timeout", type=int, default=300,
                      help="host timeout for qemu in seconds (the guest's is derived from it)")
    boot.add_argument("--kernel-cache", type=Path, help="default: WORK/kernel-cache")
    boot.add_argument("--krsiec", type=Path, help="compiler for the scenarios' policies (.krs)")
    boot.add_argument("--append", default="", help="extra kernel command line arguments")
    boot.add_argument("--tcg-threads", choices=["multi", "single"], default="multi",
                      help="qemu TCG: one host thread per vCPU (default) or one for both")
    boot.add_argument("--init", type=Path, default=here / "init", help=argparse.SUPPRESS)
    boot.add_argument("--busybox", type=Path, default=Path("/bin/busybox"),
                      help=argparse.SUPPRESS)

    check = sub.add_parser("check", help="report one check from the results JSON (for ctest)")
    check.add_argument("--results", type=Path, required=True)
    check.add_argument("--id", required=True, help="SCENARIO/CHECK")

    summary = sub.add_parser("summary", help="print a results JSON in plain words (for the demo)")
    summary.add_argument("--results", type=Path, required=True)

    with_kernel = sub.add_parser("with-kernel",
                                 help="run a command with KRSIE_GUEST_VMLINUX = the guest kernel the boot used")
    with_kernel.add_argument("--results", type=Path, required=True)
    with_kernel.add_argument("cmd", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")

    checks = sub.add_parser("list-checks", help="print every check id of the scenarios (for CMake)")
    checks.add_argument("--scenarios", type=Path, required=True)
    for p in (boot, checks):
        p.add_argument("--only", nargs="+", metavar="SCENARIO", help="run only these scenarios (by name)")
        p.add_argument("--backends", nargs="+", choices=["generic", "llvm"],
                       help="run the scenarios with these backends instead of their own `backends` line")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.command == "list-checks":
        try:
            return cmd_list_checks(args)
        except GuestError as exc:
            print(f"krsie_guest list-checks: ERROR: {exc}", file=sys.stderr, flush=True)
            return EXIT_FAIL
    if os.environ.get(SKIP_ENV) == "1":
        print(SKIP_MESSAGE, flush=True)
        return EXIT_SKIP
    try:
        commands = {"boot": cmd_boot, "check": cmd_check, "summary": cmd_summary, "with-kernel": cmd_with_kernel}
        return commands[args.command](args)
    except GuestError as exc:
        print(f"krsie_guest {args.command}: ERROR: {exc}", file=sys.stderr, flush=True)
        if os.environ.get("CI") == "true":
            print(f"(CI: guest end-to-end tests are required; set {SKIP_ENV}=1 only to skip "
                  "them on purpose)", file=sys.stderr)
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
