// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ItemView, BunkerRulesLib, StatOverflow, XpOverflow, NotEquippable} from "./BunkerRules.sol";
import {BunkerItem, IRobotItemHook} from "./BunkerItem.sol";

/// Bunkerguard robots (ERC-721). Stores base stats, XP and the four equipment slots, and keeps the
/// derived final stats, level, class and affiliation up to date after every change that can move
/// them, through the same BunkerRulesLib that `BunkerRules.classify` uses.
///
/// Events carry everything an indexer needs to rebuild state without calling back into the chain.
contract BunkerguardRobot is ERC721, AccessControl, IRobotItemHook {
    bytes32 public constant GAME_OPERATOR_ROLE = keccak256("GAME_OPERATOR_ROLE");

    struct Robot {
        uint16[12] base;
        uint64 xp;
        uint8 level;
        uint8 bunkerClass;
        uint8 affiliation;
        uint16[12] finalStats;
        uint256[4] equipped; // item id per slot HEAD, TORSO, GEAR, ACCESSORY; 0 = empty
    }

    BunkerItem public immutable items;
    mapping(uint256 => Robot) private _robots;
    uint256 public nextRobotId = 1;

    event RobotMinted(uint256 indexed robotId, address indexed owner, uint16[12] baseStats);
    event XpAwarded(uint256 indexed robotId, uint64 amount, uint64 newXp);
    event ItemEquipped(uint256 indexed robotId, uint256 indexed itemId, uint8 slot, uint256 previousItemId);
    event ItemUnequipped(uint256 indexed robotId, uint256 indexed itemId, uint8 slot);
    /// After every re-evaluation: the stored final stats and level.
    event StatsUpdated(uint256 indexed robotId, uint16[12] finalStats, uint8 level);
    event ClassChanged(
        uint256 indexed robotId, uint8 oldClass, uint8 newClass, uint8 oldAffiliation, uint8 newAffiliation
    );

    error NotRobotOwner(uint256 robotId, address caller);
    error NotItemOwner(uint256 itemId, address caller);
    error ItemAlreadyEquipped(uint256 itemId, uint256 robotId);
    error SlotEmpty(uint256 robotId, uint8 slot);
    error RobotHasEquippedItems(uint256 robotId);
    error OnlyItemContract(address caller);

    constructor(address admin, BunkerItem items_) ERC721("Bunkerguard Robot", "BGR") {
        items = items_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(GAME_OPERATOR_ROLE, admin);
    }

    function mint(address to, uint16[12] calldata base) external onlyRole(GAME_OPERATOR_ROLE) returns (uint256 robotId) {
        BunkerRulesLib.checkStats(base);
        robotId = nextRobotId++;
        _robots[robotId].base = base;
        _mint(to, robotId);
        emit RobotMinted(robotId, to, base);
        _reevaluate(robotId);
    }

    function awardXp(uint256 robotId, uint64 amount) external onlyRole(GAME_OPERATOR_ROLE) {
        _requireOwned(robotId);
        Robot storage r = _robots[robotId];
        uint256 xp = uint256(r.xp) + amount;
        if (xp > BunkerRulesLib.MAX_XP) revert XpOverflow();
        r.xp = uint64(xp);
        emit XpAwarded(robotId, amount, uint64(xp));
        _reevaluate(robotId);
    }

    /// Equips an item the caller owns onto a robot the caller owns, into the slot of its type.
    /// An occupied slot's item is unequipped in the same transaction.
    function equip(uint256 robotId, uint256 itemId) external {
        if (_requireOwned(robotId) != msg.sender) revert NotRobotOwner(robotId, msg.sender);
        if (items.ownerOf(itemId) != msg.sender) revert NotItemOwner(itemId, msg.sender);
        uint8 itemType = items.itemView(itemId).itemType;
        if (itemType < 1 || itemType > 4) revert NotEquippable(itemType);
        uint256 on = items.equippedOn(itemId);
        if (on != 0) revert ItemAlreadyEquipped(itemId, on);

        Robot storage r = _robots[robotId];
        uint256 previous = r.equipped[itemType - 1];
        if (previous != 0) {
            items.setEquippedOn(previous, 0);
            emit ItemUnequipped(robotId, previous, itemType);
        }
        r.equipped[itemType - 1] = itemId;
        items.setEquippedOn(itemId, robotId);
        emit ItemEquipped(robotId, itemId, itemType, previous);
        _reevaluate(robotId);
    }

    function unequip(uint256 robotId, uint8 slot) external {
        if (_requireOwned(robotId) != msg.sender) revert NotRobotOwner(robotId, msg.sender);
        if (slot < 1 || slot > 4) revert NotEquippable(slot);
        Robot storage r = _robots[robotId];
        uint256 itemId = r.equipped[slot - 1];
        if (itemId == 0) revert SlotEmpty(robotId, slot);
        r.equipped[slot - 1] = 0;
        items.setEquippedOn(itemId, 0);
        emit ItemUnequipped(robotId, itemId, slot);
        _reevaluate(robotId);
    }

    function onItemConditionChanged(uint256 itemId) external {
        if (msg.sender != address(items)) revert OnlyItemContract(msg.sender);
        uint256 robotId = items.equippedOn(itemId);
        if (robotId != 0) _reevaluate(robotId);
    }

    function robotState(uint256 robotId) external view returns (Robot memory) {
        _requireOwned(robotId);
        return _robots[robotId];
    }

    /// The equipped items in slot order, as `classify` would receive them.
    function loadout(uint256 robotId) public view returns (ItemView[] memory views) {
        Robot storage r = _robots[robotId];
        uint256 n;
        for (uint256 s; s < 4; ++s) {
            if (r.equipped[s] != 0) ++n;
        }
        views = new ItemView[](n);
        uint256 k;
        for (uint256 s; s < 4; ++s) {
            if (r.equipped[s] != 0) views[k++] = items.itemView(r.equipped[s]);
        }
    }

    function _reevaluate(uint256 robotId) internal {
        Robot storage r = _robots[robotId];
        (uint8 newClass, uint8 newAffiliation, uint8 level, uint16[12] memory finalStats) =
            BunkerRulesLib.evaluate(r.base, r.xp, loadout(robotId));
        r.level = level;
        r.finalStats = finalStats;
        emit StatsUpdated(robotId, finalStats, level);
        if (newClass != r.bunkerClass || newAffiliation != r.affiliation) {
            emit ClassChanged(robotId, r.bunkerClass, newClass, r.affiliation, newAffiliation);
            r.bunkerClass = newClass;
            r.affiliation = newAffiliation;
        }
    }

    /// A robot carrying items cannot change hands: its items are locked to their owner.
    function _update(address to, uint256 tokenId, address auth) internal override returns (address) {
        Robot storage r = _robots[tokenId];
        if (r.equipped[0] | r.equipped[1] | r.equipped[2] | r.equipped[3] != 0) revert RobotHasEquippedItems(tokenId);
        return super._update(to, tokenId, auth);
    }

    function supportsInterface(bytes4 interfaceId) public view override(ERC721, AccessControl) returns (bool) {
        return super.supportsInterface(interfaceId);
    }
}
