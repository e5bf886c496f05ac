#!/bin/sh
# build.sh DIR VERSION ARCH OUT - the .deb from the install staged in DIR/root.
#
# Writes DIR/root/DEBIAN (control from control.in, with the shared library
# dependencies dpkg-shlibdeps finds and the installed size; conffiles; the
# maintainer scripts) and builds OUT with dpkg-deb, files owned by root.
set -eu
dir=$1 version=$2 arch=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
root=$dir/root

mkdir -p "$root/DEBIAN" "$dir/debian"
# dpkg-shlibdeps wants a debian/control to read; a minimal one will do.
printf 'Source: sealgate\n\nPackage: sealgate\nArchitecture: any\n' > "$dir/debian/control"
depends=$(cd "$dir" && dpkg-shlibdeps -O root/usr/sbin/sealgated root/usr/sbin/sealctl |
	sed -n 's/^shlibs:Depends=//p')
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
	-e "s/@DEPENDS@/$depends/" "$here/control.in" > "$root/DEBIAN/control"
install -m 0644 "$here/conffiles" "$root/DEBIAN/conffiles"
install -m 0755 "$here/postinst" "$here/prerm" "$here/postrm" "$root/DEBIAN/"
dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
echo "deb: $out"
