#!/usr/bin/env bash
# Cross-builds workspace binaries (and small C test programs) for arm64
# (aarch64-unknown-linux-gnu), for the VM test harness that boots arm64
# Debian kernels under qemu with a busybox initramfs.
#
#   scripts/vmtest/cross-arm64.sh OUTDIR PKG:BIN [PKG:BIN ...]
#       e.g. scripts/vmtest/cross-arm64.sh target/vmtest/arm64/bin \
#                btfkit:btfkit btfkit-vmtest:vmtest-guest
#     Builds each BIN of package PKG in release mode for aarch64 and copies
#     it to OUTDIR/BIN. Every shared library they need at run time (DT_NEEDED,
#     resolved recursively, plus the ELF interpreter) is copied, from the
#     sysroot they were linked against, into OUTDIR in its guest layout:
#         OUTDIR/lib/ld-linux-aarch64.so.1
#         OUTDIR/lib/aarch64-linux-gnu/libc.so.6, libgcc_s.so.1, ...
#     so `qemu-aarch64 -L OUTDIR OUTDIR/BIN` runs them, and OUTDIR/libs.txt
#     lists one "SOURCE_PATH GUEST_PATH" line per library (SOURCE_PATH is
#     the absolute path of the copy under OUTDIR, GUEST_PATH where the
#     initramfs must put it, e.g. /lib/aarch64-linux-gnu/libc.so.6).
#
#   scripts/vmtest/cross-arm64.sh cc OUT SRC [CFLAGS...]
#       e.g. scripts/vmtest/cross-arm64.sh cc target/vmtest/arm64/app-v2 \
#                testdata/uprobe/app.c -g -O2 -DV2
#     Compiles a C program with aarch64-linux-gnu-gcc from the same sysroot
#     (dynamically linked against the same glibc whose libraries the first
#     form copies; pass -static for a self-contained binary). SRC may #include
#     headers beside it only when it lies inside the repository.
#
#   scripts/vmtest/cross-arm64.sh setup     only create/update the chroot
#   scripts/vmtest/cross-arm64.sh shell     a shell in the chroot (debugging)
#
# Why a chroot: rustup cannot download the aarch64 standard library here (no
# network but the Debian mirrors and crates.io), and Debian bookworm has no
# Rust recent enough for aya 0.14 (rustc >= 1.87). Installing sid's
# rustc/libstd-rust-dev:arm64 into the host would upgrade the host's libc6
# and much more, which must not happen. So everything lives in a private
# Debian sid chroot under target/vmtest/sid-root (git-ignored), made with
# debootstrap, with arm64 as a foreign architecture inside it and sid's
# rustc, cargo, libstd-rust-dev:arm64, gcc-aarch64-linux-gnu and
# libc6-dev:arm64. The host system is not modified apart from installing
# the bookworm debootstrap package when missing; /etc/apt is not touched.
#
# The repository is bind-mounted into the chroot at its own path, the host's
# cargo home is shared (no crate is downloaded twice), and the build goes to
# target/aarch64-cross, so host builds under target/ are not disturbed. The
# linker/CC for the target are given as environment variables, not a cargo
# config. All mounts are made in a private mount namespace (unshare), so
# they vanish when the script exits however it exits; an EXIT trap also
# unmounts them. The chroot is set up once: a stamp file records the
# package list, and later runs skip debootstrap and apt unless it changed.
#
# Environment knobs: CROSS_SUITE (sid), CROSS_MIRROR (deb.debian.org),
# CROSS_ROOT (chroot dir), CROSS_CARGO_HOME (cargo home shared with the
# chroot; default the host's CARGO_HOME or ~/.cargo if it exists, else
# target/vmtest/cargo-home), CROSS_CARGO_FLAGS (extra cargo build flags,
# e.g. --locked). Runs as root.
set -euo pipefail

SCRIPT=$(readlink -f "$0")
REPO=$(cd "$(dirname "$SCRIPT")/../.." && pwd -P)
VMT=$REPO/target/vmtest
ROOT=${CROSS_ROOT:-$VMT/sid-root}
SUITE=${CROSS_SUITE:-sid}
MIRROR=${CROSS_MIRROR:-http://deb.debian.org/debian}
RUST_TARGET=aarch64-unknown-linux-gnu
TRIPLE=aarch64-linux-gnu
CROSS_TARGET_DIR=$REPO/target/aarch64-cross
# Packages installed inside the chroot. Changing this list (or the setup
# steps: bump SETUP_VERSION) makes the next run re-run apt in the chroot.
PKGS=(rustc cargo gcc libc6-dev make pkg-config ca-certificates
	gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu
	libc6-dev:arm64 libstd-rust-dev:arm64
	libbpf-dev:arm64)
SETUP_VERSION=1
CHROOT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { printf '[cross-arm64] %s\n' "$*" >&2; }
die() { printf '[cross-arm64] ERROR: %s\n' "$*" >&2; exit 1; }
usage() {
	sed -n '2,/^# Why a chroot/{/^# Why/d;s/^# \{0,1\}//p}' "$SCRIPT" >&2
	exit 2
}

[ $# -ge 1 ] || usage
case $1 in -h|--help) usage ;; esac
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot and mount need it)"
[ "$(uname -m)" = x86_64 ] || die "expects an x86_64 host (the chroot is amd64 with arm64 as foreign architecture)"

# Re-run in a private mount namespace: every mount made below then
# disappears with the process, even if it is killed.
if [ -z "${_CROSS_ARM64_NS:-}" ] && command -v unshare >/dev/null 2>&1 &&
	unshare --mount --propagation private true 2>/dev/null; then
	export _CROSS_ARM64_NS=1
	exec unshare --mount --propagation private -- "$SCRIPT" "$@"
fi

T0=$SECONDS
mkdir -p "$VMT"
# One run at a time (they share the chroot, apt and the target dir).
exec 9>"$VMT/cross-arm64.lock"
flock 9

MOUNTED=()
cleanup() {
	local i
	for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
		umount -R "${MOUNTED[i]}" 2>/dev/null || umount -R -l "${MOUNTED[i]}" 2>/dev/null ||
			log "warning: could not unmount ${MOUNTED[i]}"
	done
	MOUNTED=()
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The host's CA bundle goes into the chroot (a file no chroot package owns)
# and cargo uses it: the network here may pass through a TLS-intercepting
# proxy whose CA only the host trusts.
CHROOT_CA=
copy_host_files() {
	cp -L --remove-destination /etc/resolv.conf "$ROOT/etc/resolv.conf"
	local ca=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
	[ -f "$ca" ] || ca=/etc/ssl/certs/ca-certificates.crt
	if [ -f "$ca" ]; then
		mkdir -p "$ROOT/etc/ssl/certs"
		cp -L "$ca" "$ROOT/etc/ssl/certs/host-ca-certificates.crt"
		CHROOT_CA=/etc/ssl/certs/host-ca-certificates.crt
	fi
}

mounts_under() { # prints the mount points at or below $1
	awk -v p="$1" '{ gsub(/\\040/, " ", $5); if ($5 == p || index($5, p "/") == 1) print $5 }' /proc/self/mountinfo
}

do_mount() { # do_mount TARGET MOUNT-ARGS...
	local target=$1
	shift
	mkdir -p "$target"
	mount "$@" "$target" || die "mount $* $target failed"
	MOUNTED+=("$target")
}

mount_chroot() { # /proc, /dev, the repository and the cargo home
	[ ${#MOUNTED[@]} -eq 0 ] || return 0
	local stale
	stale=$(mounts_under "$ROOT")
	[ -z "$stale" ] || die "something is already mounted under $ROOT (a crashed run?): $stale"
	do_mount "$ROOT/proc" -t proc proc
	do_mount "$ROOT/dev" --rbind /dev
	do_mount "$ROOT$REPO" --bind "$REPO"
	do_mount "$ROOT/cargo-home" --bind "$CARGO_SHARE"
}

# shellcheck disable=SC2016
in_chroot() { # in_chroot DIR CMD... : runs CMD in DIR inside the chroot, clean environment
	local dir=$1
	shift
	chroot "$ROOT" /usr/bin/env -i PATH="$CHROOT_PATH" HOME=/root LANG=C.UTF-8 TERM=dumb \
		DEBIAN_FRONTEND=noninteractive CARGO_HOME=/cargo-home CARGO_TERM_COLOR=never \
		${CHROOT_CA:+CARGO_HTTP_CAINFO=$CHROOT_CA SSL_CERT_FILE=$CHROOT_CA CURL_CA_BUNDLE=$CHROOT_CA} \
		CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=$TRIPLE-gcc \
		CC_aarch64_unknown_linux_gnu=$TRIPLE-gcc \
		CXX_aarch64_unknown_linux_gnu=$TRIPLE-g++ \
		AR_aarch64_unknown_linux_gnu=$TRIPLE-ar \
		/bin/bash -c 'cd "$1" && shift && exec "$@"' _ "$dir" "$@"
}

host_apt_install() {
	log "installing $* on the host (bookworm packages)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || die "apt-get update failed"
	apt-get install -y -qq --no-install-recommends "$@" >/dev/null || die "apt-get install $* failed"
}

ensure_chroot() {
	local ok=$ROOT/.cross-arm64-debootstrap-ok stamp=$ROOT/.cross-arm64-stamp want
	want="v$SETUP_VERSION suite=$SUITE mirror=$MIRROR pkgs=${PKGS[*]}"
	if [ -f "$ok" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
		copy_host_files
		return 0
	fi

	if [ ! -f "$ok" ]; then
		if ! command -v debootstrap >/dev/null 2>&1 || [ ! -f /usr/share/keyrings/debian-archive-keyring.gpg ]; then
			host_apt_install debootstrap debian-archive-keyring
		fi
		if [ -e "$ROOT" ]; then
			local stale
			stale=$(mounts_under "$ROOT")
			[ -z "$stale" ] || die "refusing to delete $ROOT: mounted below it: $stale"
			log "removing incomplete chroot $ROOT"
			rm -rf --one-file-system "$ROOT"
		fi
		mkdir -p "$ROOT"
		log "debootstrap $SUITE into ${ROOT#"$REPO"/} (1-3 min; log in ${VMT#"$REPO"/}/debootstrap.log)"
		debootstrap --variant=minbase --arch=amd64 "$SUITE" "$ROOT" "$MIRROR" >"$VMT/debootstrap.log" 2>&1 || {
			tail -n 25 "$VMT/debootstrap.log" >&2
			die "debootstrap of $SUITE failed (see $VMT/debootstrap.log)"
		}
		touch "$ok"
	fi

	# Configure the chroot (its own /etc, never the host's). Check-Valid-Until
	# is off because the mirror may serve a frozen snapshot of sid whose
	# Release file has passed its Valid-Until date (seen here); signatures
	# are still verified.
	copy_host_files
	mkdir -p "$ROOT/etc/apt/apt.conf.d" "$ROOT/etc/dpkg/dpkg.cfg.d" "$ROOT/usr/sbin"
	cat >"$ROOT/etc/apt/apt.conf.d/90cross-arm64" <<-'EOF'
		APT::Install-Recommends "false";
		APT::Install-Suggests "false";
		Acquire::Retries "3";
		Acquire::Check-Valid-Until "false";
		Dpkg::Options { "--force-confdef"; "--force-confold"; };
	EOF
	echo force-unsafe-io >"$ROOT/etc/dpkg/dpkg.cfg.d/90cross-arm64"
	printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
	chmod 755 "$ROOT/usr/sbin/policy-rc.d"
	chroot "$ROOT" dpkg --add-architecture arm64

	mount_chroot
	log "apt-get install in the chroot: ${PKGS[*]} (a few minutes the first time; log in ${VMT#"$REPO"/}/apt.log)"
	{
		in_chroot / apt-get update &&
			in_chroot / apt-get install -y "${PKGS[@]}" &&
			in_chroot / apt-get clean
	} >"$VMT/apt.log" 2>&1 || {
		tail -n 30 "$VMT/apt.log" >&2
		die "apt-get in the chroot failed (see $VMT/apt.log)"
	}
	echo "$want" >"$stamp"
	log "chroot ready: $(in_chroot / rustc --version), $(in_chroot / cargo --version), $(in_chroot / $TRIPLE-gcc --version | head -n1)"
}

# Which cargo home to share with the chroot.
if [ -n "${CROSS_CARGO_HOME:-}" ]; then
	CARGO_SHARE=$CROSS_CARGO_HOME
elif [ -d "${CARGO_HOME:-$HOME/.cargo}" ]; then
	CARGO_SHARE=${CARGO_HOME:-$HOME/.cargo}
else
	CARGO_SHARE=$VMT/cargo-home
fi
mkdir -p "$CARGO_SHARE"
CARGO_SHARE=$(cd "$CARGO_SHARE" && pwd -P)

# Prints "SOURCE GUEST" for the ELF interpreter and every DT_NEEDED library,
# recursively, of the files given; SOURCE is the path inside the chroot,
# GUEST where it belongs in the guest. A library is taken from where the
# linker found it: a probe link with the libraries Rust's std links
# (-lgcc_s -lm -lc ...) under ld --trace maps each SONAME to the file ld
# used (the sysroot has two glibc copies, libc6:arm64 and
# libc6-arm64-cross; the binaries are linked against the first, through
# libc.so). Other names are searched like ld -l:NAME does (the cross gcc's
# library path). The libc and the interpreter must come from one package.
# shellcheck disable=SC2016
RESOLVE_LIBS='
set -euo pipefail
T=aarch64-linux-gnu
declare -A seen=() known=()
probe=$(mktemp -d)
trap "rm -rf $probe" EXIT
echo "int main(void) { return 0; }" >"$probe/p.c"
$T-gcc -Wl,--trace -Wl,--no-as-needed "$probe/p.c" -o "$probe/p" \
	-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc >"$probe/trace" 2>&1 ||
	{ cat "$probe/trace" >&2; echo "probe link failed" >&2; exit 1; }
while read -r f; do
	f=${f##* }; f=${f#(}; f=${f%)}
	case $f in *.so | *.so.[0-9]*) ;; *) continue ;; esac
	soname=$($T-readelf -dW "$f" 2>/dev/null | sed -n "s/.*(SONAME).*\[\(.*\)\]$/\1/p") || true
	[ -z "$soname" ] || [ -n "${known[$soname]:-}" ] || known[$soname]=$(readlink -f "$f")
done <"$probe/trace"
resolve() {
	local p d
	if [ -n "${known[$1]:-}" ]; then echo "${known[$1]}"; return 0; fi
	p=$($T-gcc -print-file-name="$1")
	if [ "${p#/}" != "$p" ] && [ -e "$p" ]; then readlink -f "$p"; return 0; fi
	for d in /usr/lib/$T /lib/$T /usr/$T/lib; do
		if [ -e "$d/$1" ]; then readlink -f "$d/$1"; return 0; fi
	done
	return 1
}
queue=("$@")
while [ ${#queue[@]} -gt 0 ]; do
	f=${queue[0]}
	queue=("${queue[@]:1}")
	interp=$($T-readelf -lW "$f" | sed -n "s/.*Requesting program interpreter: \(.*\)\]$/\1/p")
	if [ -n "$interp" ] && [ -z "${seen[${interp##*/}]:-}" ]; then
		seen[${interp##*/}]=1
		src=$(resolve "${interp##*/}") || src=$(readlink -f "$interp")
		[ -e "$src" ] || { echo "cannot find the interpreter $interp of $f" >&2; exit 1; }
		echo "$src $interp"
	fi
	for n in $($T-readelf -dW "$f" | sed -n "s/.*(NEEDED).*\[\(.*\)\]$/\1/p"); do
		[ -z "${seen[$n]:-}" ] || continue
		seen[$n]=1
		src=$(resolve "$n") || { echo "cannot find $n (needed by $f) in the $T sysroot" >&2; exit 1; }
		echo "$src /lib/$T/$n"
		queue+=("$src")
	done
done
if [ -n "${known[libc.so.6]:-}" ] && [ -n "${known[ld-linux-aarch64.so.1]:-}" ]; then
	a=$(dpkg -S "${known[libc.so.6]}" 2>/dev/null | cut -d: -f1-2) || a=?
	b=$(dpkg -S "${known[ld-linux-aarch64.so.1]}" 2>/dev/null | cut -d: -f1-2) || b=?
	[ "$a" = "$b" ] || { echo "libc.so.6 ($a) and ld-linux-aarch64.so.1 ($b) come from different packages" >&2; exit 1; }
fi
'

cmd_build() {
	local outdir=$1
	shift
	[ $# -ge 1 ] || usage
	local spec pkg bin cargo_args=() bins=()
	for spec in "$@"; do
		[[ $spec == ?*:?* ]] || die "expected PKG:BIN, got '$spec'"
		pkg=${spec%%:*} bin=${spec#*:}
		cargo_args+=(-p "$pkg" --bin "$bin")
		bins+=("$bin")
	done
	mkdir -p "$outdir"
	outdir=$(cd "$outdir" && pwd -P)
	case $outdir in / | "$REPO") die "refusing OUTDIR $outdir" ;; esac

	ensure_chroot
	mount_chroot
	log "cargo build --release --target $RUST_TARGET: ${*} (target dir ${CROSS_TARGET_DIR#"$REPO"/})"
	# shellcheck disable=SC2086
	in_chroot "$REPO" cargo build --release --target "$RUST_TARGET" --target-dir "$CROSS_TARGET_DIR" \
		${CROSS_CARGO_FLAGS:-} "${cargo_args[@]}" || die "cargo build for $RUST_TARGET failed"

	local reldir=$CROSS_TARGET_DIR/$RUST_TARGET/release built=()
	for bin in "${bins[@]}"; do
		[ -f "$reldir/$bin" ] || die "cargo did not produce $reldir/$bin"
		install -m 0755 "$reldir/$bin" "$outdir/$bin"
		built+=("$reldir/$bin")
	done

	local libs
	libs=$(in_chroot / bash -c "$RESOLVE_LIBS" _ "${built[@]}") || die "resolving the shared libraries failed"
	rm -rf "${outdir:?}/lib"
	: >"$outdir/libs.txt.tmp"
	local src guest
	while read -r src guest; do
		[ -n "$src" ] || continue
		mkdir -p "$(dirname "$outdir$guest")"
		cp -L "$ROOT$src" "$outdir$guest"
		echo "$outdir$guest $guest" >>"$outdir/libs.txt.tmp"
	done <<<"$libs"
	mv "$outdir/libs.txt.tmp" "$outdir/libs.txt"
	log "binaries: ${bins[*]} -> $outdir; $(wc -l <"$outdir/libs.txt") libraries in $outdir/lib (libs.txt); $((SECONDS - T0))s"
}

cmd_cc() {
	[ $# -ge 2 ] || usage
	local out=$1 src=$2
	shift 2
	[ -f "$src" ] || die "no such C source: $src"
	src=$(readlink -f "$src")
	mkdir -p "$(dirname "$out")"
	ensure_chroot
	mount_chroot
	local tmp csrc cwd=$REPO
	tmp=$(mktemp -d "$ROOT/tmp/cross-cc.XXXXXX")
	if [[ $src == "$REPO"/* ]]; then csrc=$src; else
		cp "$src" "$tmp/" && csrc=/tmp/${tmp##*/}/${src##*/}
	fi
	# Relative -I paths work when called from inside the repository.
	[[ $PWD/ == "$REPO"/* ]] && cwd=$PWD
	log "$TRIPLE-gcc $* -o $out $src"
	# Flags after the source: libraries (-lbpf) must follow what uses them.
	in_chroot "$cwd" "$TRIPLE-gcc" "$csrc" "$@" -o "/tmp/${tmp##*/}/out" || {
		rm -rf "$tmp"
		die "$TRIPLE-gcc failed"
	}
	install -m 0755 "$tmp/out" "$out"
	rm -rf "$tmp"
	log "built $out; $((SECONDS - T0))s"
}

case $1 in
cc) shift; cmd_cc "$@" ;;
setup) ensure_chroot; log "done; $((SECONDS - T0))s" ;;
shell) ensure_chroot; mount_chroot; in_chroot "$REPO" bash -i ;;
*) cmd_build "$@" ;;
esac
