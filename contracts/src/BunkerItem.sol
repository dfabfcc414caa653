// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ItemView, StatOverflow, BadEnum} from "./BunkerRules.sol";

/// What the item contract asks of the robot contract when an equipped item's condition changes.
interface IRobotItemHook {
    function onItemConditionChanged(uint256 itemId) external;
}

/// Bunker items (ERC-721). Attributes are fixed at mint except the condition, which the game
/// operator changes. An equipped item is locked: it cannot be transferred until unequipped.
contract BunkerItem is ERC721, AccessControl {
    bytes32 public constant GAME_OPERATOR_ROLE = keccak256("GAME_OPERATOR_ROLE");

    struct Item {
        ItemView attrs;
        uint256 equippedOn; // robot id, 0 when not equipped
    }

    mapping(uint256 => Item) private _items;
    uint256 public nextItemId = 1;
    address public robotContract;

    event ItemMinted(
        uint256 indexed itemId,
        address indexed owner,
        uint8 itemType,
        uint8 rarity,
        uint8 condition,
        uint16[12] boosts,
        uint16 classAffinities,
        uint8 traitAffiliation
    );
    event ConditionChanged(uint256 indexed itemId, uint8 oldCondition, uint8 newCondition);

    error ItemIsEquipped(uint256 itemId, uint256 robotId);
    error OnlyRobotContract(address caller);
    error RobotContractAlreadySet();

    constructor(address admin) ERC721("Bunker Item", "BITEM") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(GAME_OPERATOR_ROLE, admin);
    }

    /// Wired once after both contracts are deployed (each needs the other's address).
    function setRobotContract(address robot) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (robotContract != address(0)) revert RobotContractAlreadySet();
        robotContract = robot;
    }

    function mint(address to, ItemView calldata attrs) external onlyRole(GAME_OPERATOR_ROLE) returns (uint256 itemId) {
        if (
            attrs.itemType < 1 || attrs.itemType > 9 || attrs.rarity < 1 || attrs.rarity > 6 || attrs.condition < 1
                || attrs.condition > 4 || attrs.traitAffiliation < 1 || attrs.traitAffiliation > 3
        ) revert BadEnum();
        for (uint256 s; s < 12; ++s) {
            if (attrs.boosts[s] > 1000) revert StatOverflow(uint8(s));
        }
        itemId = nextItemId++;
        _items[itemId].attrs = attrs;
        _mint(to, itemId);
        emit ItemMinted(
            itemId,
            to,
            attrs.itemType,
            attrs.rarity,
            attrs.condition,
            attrs.boosts,
            attrs.classAffinities,
            attrs.traitAffiliation
        );
    }

    /// Changes the condition; if the item is equipped, the robot is re-evaluated in the same
    /// transaction, and a change that would overflow its stats reverts the whole call.
    function setCondition(uint256 itemId, uint8 condition) external onlyRole(GAME_OPERATOR_ROLE) {
        _requireOwned(itemId);
        if (condition < 1 || condition > 4) revert BadEnum();
        Item storage item = _items[itemId];
        uint8 old = item.attrs.condition;
        item.attrs.condition = condition;
        emit ConditionChanged(itemId, old, condition);
        if (item.equippedOn != 0) IRobotItemHook(robotContract).onItemConditionChanged(itemId);
    }

    function setEquippedOn(uint256 itemId, uint256 robotId) external {
        if (msg.sender != robotContract) revert OnlyRobotContract(msg.sender);
        _items[itemId].equippedOn = robotId;
    }

    function itemView(uint256 itemId) external view returns (ItemView memory) {
        _requireOwned(itemId);
        return _items[itemId].attrs;
    }

    function equippedOn(uint256 itemId) external view returns (uint256) {
        return _items[itemId].equippedOn;
    }

    function _update(address to, uint256 tokenId, address auth) internal override returns (address) {
        uint256 robotId = _items[tokenId].equippedOn;
        if (robotId != 0) revert ItemIsEquipped(tokenId, robotId);
        return super._update(to, tokenId, auth);
    }

    function supportsInterface(bytes4 interfaceId) public view override(ERC721, AccessControl) returns (bool) {
        return super.supportsInterface(interfaceId);
    }
}
