// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

// The MVE class rules, version 1 (docs/spec/class-rules.md), in one place: the pure `classify`
// entry point and the stateful robot contract both evaluate loadouts through BunkerRulesLib.

/// A base, boost or final sub-stat above 1000 (index 0..11).
error StatOverflow(uint8 index);
/// XP above 1_000_000_000.
error XpOverflow();
/// An item whose type has no equipment slot (only HEAD=1, TORSO=2, GEAR=3, ACCESSORY=4 do).
error NotEquippable(uint8 itemType);
/// Two items of one type in one loadout.
error SlotTaken(uint8 itemType);
/// A rarity, condition, trait affiliation (or, at item mint, item type) outside its range.
error BadEnum();

struct ItemView {
    uint8 itemType; // 1..9, platform numbering; only 1..4 are equippable
    uint8 rarity; // 1..6
    uint8 condition; // 1..4
    uint16[12] boosts; // each 0..1000
    uint16 classAffinities; // bit (c - 1) set when class c (1..12) is in the set
    uint8 traitAffiliation; // 1..3
}

library BunkerRulesLib {
    uint256 internal constant MAX_STAT = 1000;
    uint256 internal constant MAX_XP = 1_000_000_000;
    uint8 internal constant USED = 3;
    uint8 internal constant BROKEN = 4;
    uint8 internal constant LOYAL = 1;
    uint8 internal constant CORRUPT = 2;
    uint8 internal constant NEUTRAL = 3;

    /// Class by (primary, secondary) category, index primary * 4 + secondary; categories are
    /// COMBAT=0, MOBILITY=1, SURVIVABILITY=2, SENSORS=3; 0 on the diagonal.
    bytes16 internal constant CLASS_TABLE = hex"000b0508" hex"07000601" hex"040c000a" hex"09020300";

    function evaluate(uint16[12] memory base, uint64 xp, ItemView[] memory items)
        internal
        pure
        returns (uint8 bunkerClass, uint8 affiliation, uint8 level, uint16[12] memory finalStats)
    {
        validate(base, xp, items);
        finalStats = finalStatsOf(base, items);
        level = levelOf(xp);
        bunkerClass = classOf(finalStats, level, items);
        affiliation = affiliationOf(items);
    }

    /// Checks in the spec's order, so that every client reports the same first error.
    function validate(uint16[12] memory base, uint64 xp, ItemView[] memory items) internal pure {
        if (xp > MAX_XP) revert XpOverflow();
        uint256 seen;
        for (uint256 i; i < items.length; ++i) {
            ItemView memory it = items[i];
            if (
                it.rarity < 1 || it.rarity > 6 || it.condition < 1 || it.condition > 4 || it.traitAffiliation < 1
                    || it.traitAffiliation > 3
            ) revert BadEnum();
            if (it.itemType < 1 || it.itemType > 4) revert NotEquippable(it.itemType);
            uint256 bit = 1 << it.itemType;
            if (seen & bit != 0) revert SlotTaken(it.itemType);
            seen |= bit;
        }
        checkStats(base);
        for (uint256 i; i < items.length; ++i) {
            checkStats(items[i].boosts);
        }
    }

    function checkStats(uint16[12] memory stats) internal pure {
        for (uint256 s; s < 12; ++s) {
            if (stats[s] > MAX_STAT) revert StatOverflow(uint8(s));
        }
    }

    function effectiveBoost(ItemView memory it, uint256 s) internal pure returns (uint256) {
        if (it.condition == BROKEN) return 0;
        if (it.condition == USED) return it.boosts[s] / 2;
        return it.boosts[s];
    }

    /// base + effective boosts, per sub-stat; no clamping: above 1000 reverts, lowest index first.
    function finalStatsOf(uint16[12] memory base, ItemView[] memory items)
        internal
        pure
        returns (uint16[12] memory out)
    {
        for (uint256 s; s < 12; ++s) {
            uint256 v = base[s];
            for (uint256 i; i < items.length; ++i) {
                v += effectiveBoost(items[i], s);
            }
            if (v > MAX_STAT) revert StatOverflow(uint8(s));
            out[s] = uint16(v);
        }
    }

    function levelOf(uint64 xp) internal pure returns (uint8) {
        uint256 level = Math.sqrt(uint256(xp) / 1000) + 1;
        return level > 100 ? 100 : uint8(level);
    }

    function averages(uint16[12] memory f) internal pure returns (uint256[4] memory a) {
        a[0] = (uint256(f[0]) + f[1] + f[2] + f[3]) / 4;
        a[1] = (uint256(f[4]) + f[5] + f[6] + f[7]) / 4;
        a[2] = (uint256(f[8]) + f[9]) / 2;
        a[3] = (uint256(f[10]) + f[11]) / 2;
    }

    function classFor(uint256 primary, uint256 secondary) internal pure returns (uint8) {
        return uint8(CLASS_TABLE[primary * 4 + secondary]);
    }

    function classOf(uint16[12] memory f, uint8 level, ItemView[] memory items) internal pure returns (uint8) {
        if (level < 5) return 0;
        uint256[4] memory a = averages(f);
        uint256 top = Math.max(Math.max(a[0], a[1]), Math.max(a[2], a[3]));
        if (top < 100) return 0;

        // Every (primary, secondary) pair consistent with the ranking is a candidate (bit c-1).
        uint256 candidates;
        for (uint256 p; p < 4; ++p) {
            if (a[p] != top) continue;
            uint256 second;
            for (uint256 s; s < 4; ++s) {
                if (s != p && a[s] > second) second = a[s];
            }
            for (uint256 s; s < 4; ++s) {
                if (s != p && a[s] == second) candidates |= 1 << (classFor(p, s) - 1);
            }
        }
        if (candidates & (candidates - 1) == 0) return uint8(Math.log2(candidates) + 1);

        // Tie-break: affinity votes of items that are not BROKEN, then the lowest enum value.
        uint8 best;
        uint256 bestVotes;
        for (uint8 c = 1; c <= 12; ++c) {
            uint256 bit = 1 << (c - 1);
            if (candidates & bit == 0) continue;
            uint256 votes;
            for (uint256 i; i < items.length; ++i) {
                if (items[i].condition != BROKEN && items[i].classAffinities & bit != 0) ++votes;
            }
            if (best == 0 || votes > bestVotes) {
                best = c;
                bestVotes = votes;
            }
        }
        return best;
    }

    function affiliationOf(ItemView[] memory items) internal pure returns (uint8) {
        int256 score;
        for (uint256 i; i < items.length; ++i) {
            ItemView memory it = items[i];
            if (it.condition == BROKEN) continue;
            if (it.traitAffiliation == LOYAL) score += int256(uint256(it.rarity));
            else if (it.traitAffiliation == CORRUPT) score -= int256(uint256(it.rarity));
        }
        if (score >= 4) return LOYAL;
        if (score <= -4) return CORRUPT;
        return NEUTRAL;
    }
}

/// The pure entry point: any client evaluates a loadout with one eth_call.
contract BunkerRules {
    function classify(uint16[12] calldata base, uint64 xp, ItemView[] calldata equipped)
        external
        pure
        returns (uint8 bunkerClass, uint8 affiliation, uint8 level, uint16[12] memory finalStats)
    {
        return BunkerRulesLib.evaluate(base, xp, equipped);
    }
}
