#!/usr/bin/env bash
# Add llm-viewer to the desktop menu of the current user (freedesktop: GNOME, KDE, XFCE...).
#
#   packaging/install-desktop.sh [EXECUTABLE]
#
# EXECUTABLE: the built app (e.g. /opt/llm-viewer/llm-viewer) or the llm-viewer found on the PATH
# (pipx install). Installs the .desktop entry (Exec set to the absolute path) and the icons under
# ${XDG_DATA_HOME:-~/.local/share}. Nothing is written into the application folder.
set -euo pipefail

exe="${1:-$(command -v llm-viewer || true)}"
if [[ -z "$exe" || ! -x "$exe" ]]; then
  echo "install-desktop: give the llm-viewer executable (none on the PATH)" >&2
  exit 2
fi
exe="$(readlink -f "$exe")"
app_dir="$(dirname "$exe")"
if [[ -d "$app_dir/_internal/resources" ]]; then          # PyInstaller folder
  res="$app_dir/_internal/resources"
else                                                       # pip / pipx install: ask the package
  read -r py _ <<<"$(head -1 "$exe" | sed -n 's/^#!//p')"   # the shebang may carry options (pipx: -E)
  res="$("$py" -c 'from llm_viewer.resources_path import resources_root; print(resources_root())')"
fi
if [[ ! -f "$res/llm-viewer.desktop" ]]; then
  echo "install-desktop: $res/llm-viewer.desktop not found" >&2
  exit 1
fi
data="${XDG_DATA_HOME:-$HOME/.local/share}"
mkdir -p "$data/applications" "$data/icons/hicolor/scalable/apps"
sed -e "s|^Exec=llm-viewer |Exec=\"$exe\" |" -e "s|^TryExec=.*|TryExec=$exe|" \
  "$res/llm-viewer.desktop" > "$data/applications/llm-viewer.desktop"
for s in 16 32 48 64 128 256 512; do
  mkdir -p "$data/icons/hicolor/${s}x${s}/apps"
  cp "$res/icons/llm-viewer-$s.png" "$data/icons/hicolor/${s}x${s}/apps/llm-viewer.png"
done
cp "$res/icons/llm-viewer.svg" "$data/icons/hicolor/scalable/apps/llm-viewer.svg"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$data/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$data/icons/hicolor" || true
echo "installed $data/applications/llm-viewer.desktop -> $exe"
