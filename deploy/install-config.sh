#!/bin/sh
# meson install step: put the example configuration in place as sluice.conf, unless a
# configuration is there already. Installing a newer build must not overwrite the node's own
# configuration; the example stays readable in the documentation directory.
#
#   install-config.sh EXAMPLE DEST      (DEST absolute; DESTDIR, if set, is prepended)
set -eu
src=$1
dest=${DESTDIR:-}$2
if [ -e "$dest" ]; then
	echo "Keeping $dest (the example is $src)"
	exit 0
fi
mkdir -p "$(dirname "$dest")"
cp "$src" "$dest.tmp.$$"
chmod 0644 "$dest.tmp.$$"
mv "$dest.tmp.$$" "$dest"
echo "Installing $src to $dest"
