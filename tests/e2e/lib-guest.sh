# shellcheck shell=bash
# Shell pieces shared by tests/e2e/test-boot.sh and scripts/demo: build the tiny guest
# image, prepare a libvirt embedded-driver root, boot a domain there from its XML, wait
# for the guest's marker on its serial console, and stop it again. Source it; it sets no
# traps and prints nothing on its own (callers narrate). Needs E2E_VIRT (the e2e-virt
# helper built by meson: tests/e2e/e2e-virt in the build directory).
#
# Why a helper and not virsh: see the comment at the top of tests/e2e/e2e-virt.c.

GUEST_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GUEST_MARKER_PREFIX=CAIRN-E2E-BOOT-OK

# A fresh random token for this run's guest ([a-f0-9], 16 characters).
guest_token() {
	od -An -N8 -tx1 /dev/urandom | tr -d ' \n'
}

# guest_image OUTPUT TOKEN: the bootable raw image (kernel and base image cached, see
# make-guest-image). Its messages go to stderr.
guest_image() {
	"$GUEST_LIB_DIR/make-guest-image" "$1" "$2"
}

# guest_libvirt_root DIR: a root for libvirt's embedded drivers (qemu:///embed?root=DIR,
# secret:///embed?root=DIR) whose QEMU runs as root without a security driver and writes
# its logs itself (no virtlogd). The system libvirt and its configuration stay untouched.
guest_libvirt_root() {
	mkdir -p "$1/etc"
	cat >"$1/etc/qemu.conf" <<'EOF'
# written by cairn's tests/e2e/lib-guest.sh for an embedded QEMU driver
user = "root"
group = "root"
security_driver = "none"
stdio_handler = "file"
EOF
}

# kvm_usable: /dev/kvm exists and can be opened read-write by us.
kvm_usable() {
	[ -c /dev/kvm ] || return 1
	{ exec 7<>/dev/kvm; } 2>/dev/null || return 1
	exec 7>&-
	return 0
}

# The QEMU pid of domain NAME under ROOT (from libvirt's pid file), when it is alive and
# really that guest's QEMU (argv names guest=NAME): guards against a reused pid.
guest_qemu_pid() { # ROOT NAME
	local f=$1/run/qemu/$2.pid pid
	[ -s "$f" ] || return 1
	pid=$(tr -d ' \n' <"$f")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "^guest=$2," || return 1
	echo "$pid"
}

# guest_start ROOT DOMAIN.xml: define and start the domain; sets GUEST_NAME and GUEST_PID
# (its QEMU). Errors on stderr.
GUEST_NAME=
GUEST_PID=
guest_start() { # ROOT XML
	local name
	name=$("${E2E_VIRT:?}" "$1" start "$2") || return 1
	GUEST_NAME=$name
	GUEST_PID=$(guest_qemu_pid "$1" "$name") || GUEST_PID=
	return 0
}

# guest_wait_marker CONSOLE-LOG TOKEN SECONDS: wait until the console shows this run's
# marker; prints the marker line. Fails after SECONDS, or at once when the guest's QEMU is
# gone without it.
guest_wait_marker() { # LOG TOKEN SECONDS
	local log=$1 re="$GUEST_MARKER_PREFIX $2" deadline line
	deadline=$(($(date +%s) + $3))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		if [ -f "$log" ] && line=$(grep -a -m1 -- "$re" "$log"); then
			printf '%s\n' "${line//$'\r'/}"
			return 0
		fi
		if [ -n "$GUEST_PID" ] && ! kill -0 "$GUEST_PID" 2>/dev/null; then
			# the last look: QEMU may have written the marker just before it ended
			if [ -f "$log" ] && line=$(grep -a -m1 -- "$re" "$log"); then
				printf '%s\n' "${line//$'\r'/}"
				return 0
			fi
			return 1
		fi
		sleep 0.2
	done
	return 1
}

# guest_stop ROOT: destroy and undefine GUEST_NAME through libvirt; if its QEMU still runs
# after that, TERM then KILL it by its pid (only that pid). Safe to call twice.
guest_stop() { # ROOT
	local root=$1 rc=0 i
	[ -n "$GUEST_NAME" ] || return 0
	"${E2E_VIRT:?}" "$root" stop "$GUEST_NAME" || rc=1
	if [ -n "$GUEST_PID" ] && kill -0 "$GUEST_PID" 2>/dev/null; then
		kill -TERM "$GUEST_PID" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			kill -0 "$GUEST_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$GUEST_PID" 2>/dev/null || true
		rc=1
	fi
	GUEST_NAME=
	GUEST_PID=
	return $rc
}

# guest_boot ROOT XML-FOR-TYPE LOG-PREFIX TOKEN: boot under KVM when /dev/kvm works (30 s for
# the marker: nested KVM was seen to fail SYSLINUX's real-mode code), else or then under TCG
# (GUEST_TCG_TIMEOUT, default 120 s). XML-FOR-TYPE is a command called with "kvm" or "qemu"
# and a console log path that prints the domain XML. Sets GUEST_ACCEL (kvm or tcg),
# GUEST_ACCEL_NOTE (why), GUEST_MARKER (the line), GUEST_BOOT_MS; the domain is left
# defined (its QEMU paused after power-off): call guest_stop.
GUEST_ACCEL=
GUEST_ACCEL_NOTE=
GUEST_MARKER=
GUEST_BOOT_MS=
guest_boot() { # ROOT XML-CMD LOG-PREFIX TOKEN
	local root=$1 xmlcmd=$2 prefix=$3 token=$4 t0 try types=() log
	GUEST_ACCEL=
	GUEST_MARKER=
	GUEST_BOOT_MS=
	if kvm_usable; then
		types=(kvm qemu)
		GUEST_ACCEL_NOTE="/dev/kvm is usable"
	else
		types=(qemu)
		GUEST_ACCEL_NOTE="no usable /dev/kvm"
	fi
	for try in "${types[@]}"; do
		log=$prefix-$try.log
		rm -f "$log"
		"$xmlcmd" "$try" "$log" >"$prefix-$try.xml" || return 1
		t0=$(date +%s%N)
		if ! guest_start "$root" "$prefix-$try.xml" 2>"$prefix-$try.err"; then
			GUEST_ACCEL_NOTE="$GUEST_ACCEL_NOTE; $try did not start: $(tail -n 1 "$prefix-$try.err")"
			continue
		fi
		if GUEST_MARKER=$(guest_wait_marker "$log" "$token" \
			"$([ "$try" = kvm ] && echo 30 || echo "${GUEST_TCG_TIMEOUT:-120}")"); then
			GUEST_BOOT_MS=$((($(date +%s%N) - t0) / 1000000))
			GUEST_ACCEL=$([ "$try" = kvm ] && echo kvm || echo tcg)
			return 0
		fi
		GUEST_ACCEL_NOTE="$GUEST_ACCEL_NOTE; no marker under $try"
		guest_stop "$root" || true
	done
	return 1
}
