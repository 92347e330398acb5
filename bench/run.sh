#!/usr/bin/env bash
# commwatch benchmark harness: installs the peers from Debian if missing, builds release
# binaries, and runs every scenario against simulated endpoints on loopback.
#
#   bench/run.sh           full run (about 30 minutes); updates the tables in BENCHMARKS.md
#   bench/run.sh --quick   short windows, single runs (about 3 minutes): checks the harness works
#
# Markdown goes to stdout, progress to stderr, JSON to bench/out/latest.json.
# The commune list is the one built in (data/vn-communes.csv); COMMWATCH_COMMUNES names another.
set -euo pipefail

cd "$(dirname "$0")/.."

quick=0
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench/run.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

# Peers, from Debian's packages. Without root (or passwordless sudo) the run goes on and
# the peer columns say "not installed".
missing=()
[ -x /usr/bin/prometheus-blackbox-exporter ] || command -v blackbox_exporter >/dev/null 2>&1 \
    || missing+=(prometheus-blackbox-exporter)
command -v fping >/dev/null 2>&1 || missing+=(fping)
# The store benchmark's PostgreSQL column runs Debian's server binaries.
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
# nft silences pings to the simulated mobile sites that hang or fail in the storm.
command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ] || missing+=(nftables)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        apt_get=(apt-get)
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        apt_get=(sudo apt-get)
    else
        apt_get=()
        echo "bench/run.sh: cannot install ${missing[*]} (not root); continuing without" >&2
    fi
    if [ "${#apt_get[@]}" -gt 0 ]; then
        echo "bench/run.sh: installing ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        "${apt_get[@]}" update >&2
        "${apt_get[@]}" install -y "${missing[@]}" >&2
    fi
fi

# Thousands of simulated listeners and hanging probes need descriptors; the harness raises
# the soft limit to the hard one too, this covers cargo's children as well.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cargo build --release --bins >&2

csv=()
[ -n "${COMMWATCH_COMMUNES:-}" ] && csv=(--csv "$COMMWATCH_COMMUNES")
if [ "$quick" -eq 1 ]; then
    target/release/commwatch-bench run --quick "${csv[@]}" \
        --out bench/out/latest.json --label "bench/run.sh --quick"
else
    target/release/commwatch-bench run "${csv[@]}" \
        --out bench/out/latest.json --doc BENCHMARKS.md --label "bench/run.sh"
fi

# The store on both engines, same workload, same run: the writer's throughput and CPU (daemon
# and PostgreSQL server), the national drill's load and the 30-day views. It starts a throwaway
# PostgreSQL on 127.0.0.1 from Debian's binaries (installed above when missing).
store_args=()
[ "$quick" -eq 1 ] && store_args=(--quick)
echo "bench/run.sh: store benchmark (SQLite and PostgreSQL)" >&2
mkdir -p bench/out
cargo bench --bench store -- "${store_args[@]}" > bench/out/store.md
echo
echo "#### Store, SQLite beside PostgreSQL (cargo bench --bench store)"
echo
cat bench/out/store.md
if [ "$quick" -eq 0 ]; then
    # Between its own markers, so the harness's table and this one are rewritten apart.
    awk -v table=bench/out/store.md '
        /^<!-- store:begin/ { print; while ((getline line < table) > 0) print line; skip = 1; next }
        /^<!-- store:end -->/ { skip = 0 }
        !skip { print }
    ' BENCHMARKS.md > bench/out/BENCHMARKS.md.new
    mv bench/out/BENCHMARKS.md.new BENCHMARKS.md
    echo "bench/run.sh: store table updated in BENCHMARKS.md" >&2
fi
