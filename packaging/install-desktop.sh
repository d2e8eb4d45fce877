#!/usr/bin/env bash
# Add llm-viewer to the desktop menu of the current user (freedesktop: GNOME, KDE, XFCE...).
#
#   packaging/install-desktop.sh [EXECUTABLE]
#
# EXECUTABLE: the built app (e.g. /opt/llm-viewer/llm-viewer) or the llm-viewer found on the PATH
# (pipx install). Installs the .desktop entry (Exec set to the absolute path) and the icons under
# ${XDG_DATA_HOME:-~/.local/share}. Nothing is written into the application folder. Paths may contain
# spaces and be of any length.
set -euo pipefail

# The Python interpreter of a pip-made console script. pip writes `#!/path/to/python [options]`, or, when
# that path contains a space or the line would be longer than 127 characters, a /bin/sh wrapper:
#   #!/bin/sh
#   '''exec' "/path with space/bin/python" "$0" "$@"
# Falls back to the python beside the script (a venv's bin/).
script_python() {
  local first="" second="" rest="" py=""
  { IFS= read -r first || true; IFS= read -r second || true; } <"$1"
  first="${first#\#!}"
  if [[ "$first" == "/bin/sh" || "$first" == "/bin/sh "* ]]; then
    rest="${second#"'''exec' "}"
    if [[ "$rest" != "$second" ]]; then
      if [[ "$rest" == \"* ]]; then
        rest="${rest#\"}"
        py="${rest%%\"*}"
      else
        py="${rest%% *}"
      fi
    fi
  else
    read -r py rest <<<"$first"                           # the shebang may carry options (pipx: -E)
    if [[ "$(basename -- "${py:-x}")" == env ]]; then     # #!/usr/bin/env python3
      read -r py _ <<<"$rest"
      py="$(command -v -- "$py" || true)"
    fi
  fi
  if [[ -z "$py" || ! -x "$py" ]]; then
    py="$(dirname -- "$1")/python"
  fi
  printf '%s\n' "$py"
}

exe="${1:-$(command -v llm-viewer || true)}"
if [[ -z "$exe" || ! -x "$exe" ]]; then
  echo "install-desktop: give the llm-viewer executable (none on the PATH)" >&2
  exit 2
fi
exe="$(readlink -f -- "$exe")"
app_dir="$(dirname -- "$exe")"
if [[ -d "$app_dir/_internal/resources" ]]; then          # PyInstaller folder
  res="$app_dir/_internal/resources"
else                                                       # pip / pipx install: ask the package
  py="$(script_python "$exe")"
  if [[ ! -x "$py" ]]; then
    echo "install-desktop: cannot find the Python interpreter of $exe" >&2
    exit 1
  fi
  res="$("$py" -c 'from llm_viewer.resources_path import resources_root; print(resources_root())')"
fi
if [[ ! -f "$res/llm-viewer.desktop" ]]; then
  echo "install-desktop: $res/llm-viewer.desktop not found" >&2
  exit 1
fi
data="${XDG_DATA_HOME:-$HOME/.local/share}"
mkdir -p "$data/applications" "$data/icons/hicolor/scalable/apps"
# Exec: the path quoted as the desktop entry spec asks (inside quotes \ " ` $ are escaped with a backslash,
# itself doubled by the string escape rule; a literal % is %%), then escaped for sed's replacement text.
exec_q="$(printf '%s' "$exe" | sed -e 's/[\\"`$]/\\\\&/g' -e 's/%/%%/g')"
sed_repl() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }
sed -e "s|^Exec=llm-viewer |Exec=\"$(sed_repl "$exec_q")\" |" -e "s|^TryExec=.*|TryExec=$(sed_repl "$exe")|" \
  "$res/llm-viewer.desktop" > "$data/applications/llm-viewer.desktop"
for s in 16 32 48 64 128 256 512; do
  mkdir -p "$data/icons/hicolor/${s}x${s}/apps"
  cp "$res/icons/llm-viewer-$s.png" "$data/icons/hicolor/${s}x${s}/apps/llm-viewer.png"
done
cp "$res/icons/llm-viewer.svg" "$data/icons/hicolor/scalable/apps/llm-viewer.svg"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$data/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$data/icons/hicolor" || true
echo "installed $data/applications/llm-viewer.desktop -> $exe"
