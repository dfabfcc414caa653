#!/usr/bin/env bash
# Reverts one class rule at a time in contracts/src/BunkerRules.sol and runs the suite: every
# mutant must make at least one named test fail. Restores the source afterwards. Takes ~1 min per
# mutant. Usage: suites/l3-calculations/mutants.sh [name...]   (default: all)
set -uo pipefail
cd "$(dirname "$0")/../.."
src=contracts/src/BunkerRules.sol
cp "$src" "$src.orig"
trap 'mv "$src.orig" "$src"' EXIT

# name @@ from @@ to  (literal text, first occurrence; \n for a line break)
mutants=(
  "floor-to-round@@a[0] = (uint256(f[0]) + f[1] + f[2] + f[3]) / 4;@@a[0] = (uint256(f[0]) + f[1] + f[2] + f[3] + 2) / 4;"
  "threshold-gt-100@@if (top < 100) return 0;@@if (top <= 100) return 0;"
  "broken-counts-stats@@if (it.condition == BROKEN) return 0;@@if (it.condition == 0) return 0;"
  "used-rounds-up@@if (it.condition == USED) return it.boosts[s] / 2;@@if (it.condition == USED) return (it.boosts[s] + 1) / 2;"
  "level-gate-4@@if (level < 5) return 0;@@if (level < 4) return 0;"
  "loyal-gt-4@@if (score >= 4) return LOYAL;@@if (score > 4) return LOYAL;"
  "vote-tie-highest-enum@@if (best == 0 || votes > bestVotes) {@@if (best == 0 || votes >= bestVotes) {"
  "broken-votes@@if (items[i].condition != BROKEN && items[i].classAffinities & bit != 0) ++votes;@@if (items[i].classAffinities & bit != 0) ++votes;"
  "final-1000-rejected@@if (v > MAX_STAT) revert StatOverflow(uint8(s));@@if (v >= MAX_STAT) revert StatOverflow(uint8(s));"
  "xp-cap-exclusive@@if (xp > MAX_XP) revert XpOverflow();@@if (xp >= MAX_XP) revert XpOverflow();"
  "table-swap@@hex\"000b0508\"@@hex\"00050b08\""
  "base-checked-first@@if (xp > MAX_XP) revert XpOverflow();\n        uint256 seen;@@if (xp > MAX_XP) revert XpOverflow();\n        checkStats(base);\n        uint256 seen;"
)
want=("$@")
status=0
for m in "${mutants[@]}"; do
  name=${m%%@@*}; rest=${m#*@@}; from=${rest%%@@*}; to=${rest#*@@}
  if [ ${#want[@]} -gt 0 ] && [[ ! " ${want[*]} " == *" $name "* ]]; then continue; fi
  cp "$src.orig" "$src"
  FROM="$from" TO="$to" python3 -c '
import os, sys
p = sys.argv[1]; s = open(p).read()
f = os.environ["FROM"].replace("\\n", "\n")
t = os.environ["TO"].replace("\\n", "\n")
assert f in s, "pattern not found: " + f
open(p, "w").write(s.replace(f, t, 1))' "$src" || { echo "mutant $name: pattern not found"; status=1; continue; }
  failed=$(cargo nextest run -p l3-calculations --no-fail-fast --hide-progress-bar 2>&1 | grep -E '^\s+(FAIL|SIGABRT|TIMEOUT)' | sed -E 's/.*l3-calculations(::[a-z_]+)? //' | sort -u)
  if [ -z "$failed" ]; then
    echo "mutant $name: SURVIVED (no test failed)"; status=1
  else
    echo "mutant $name: killed by $(echo "$failed" | wc -l) test(s): $(echo "$failed" | tr '\n' ' ')"
  fi
done
exit $status
