#!/bin/sh
# Validate libvirt-glue's golden documents (tests/data/xml; test-libvirt-glue checks that
# they are exactly what the code writes) against libvirt's own RelaxNG schemas with
# virt-xml-validate (Debian: libvirt-clients, which needs xmllint from libxml2-utils).
# A <disk> alone is no schema document: it is validated inside a minimal domain.
# Output: TAP.
set -u

dir=${1:?usage: test-libvirt-glue-schema.sh GOLDEN_DIR}

if ! command -v virt-xml-validate >/dev/null 2>&1; then
	echo "1..1"
	echo "not ok 1 - virt-xml-validate is not installed (apt-get install libvirt-clients libxml2-utils)"
	exit 1
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

set -- "$dir"/disk-*.xml "$dir"/domain-*.xml "$dir"/secret-*.xml
total=0
for f; do
	[ -f "$f" ] && total=$((total + 1))
done
if [ "$total" -lt 3 ]; then
	echo "1..1"
	echo "not ok 1 - expected golden disk, domain and secret documents in $dir"
	exit 1
fi
# one more: the validator itself must reject a broken document
echo "1..$((total + 1))"

n=0
failed=0
for f; do
	[ -f "$f" ] || continue
	n=$((n + 1))
	name=$(basename "$f")
	case "$name" in
	disk-*)
		doc="$tmp/$name"
		{
			printf '<domain type="kvm">\n  <name>schema-check</name>\n'
			printf '  <memory unit="MiB">64</memory>\n'
			printf '  <os>\n    <type arch="x86_64">hvm</type>\n  </os>\n  <devices>\n'
			cat "$f"
			printf '  </devices>\n</domain>\n'
		} >"$doc"
		schema=domain
		;;
	domain-*)
		doc=$f
		schema=domain
		;;
	secret-*)
		doc=$f
		schema=secret
		;;
	esac
	if out=$(virt-xml-validate "$doc" "$schema" 2>&1); then
		echo "ok $n - $name is a valid libvirt $schema"
	else
		echo "not ok $n - $name is not a valid libvirt $schema"
		printf '%s\n' "$out" | sed 's/^/# /'
		failed=1
	fi
done

n=$((n + 1))
printf '<domain type="kvm"><name>x</name><memory>1</memory><os><type>hvm</type></os>'\
'<devices><disk type="network" device="disk"><source protocol="rbd" name="p/i"/>'\
'<target dev="vda" bus="floppy-bus"/></disk></devices></domain>\n' >"$tmp/broken.xml"
if virt-xml-validate "$tmp/broken.xml" domain >/dev/null 2>&1; then
	echo "not ok $n - virt-xml-validate accepted a document with a bad disk bus"
	failed=1
else
	echo "ok $n - virt-xml-validate rejects a document with a bad disk bus"
fi
exit $failed
