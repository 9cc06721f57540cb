// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Pausable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Pausable.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title PausableToken
/// @notice ERC-20 with an owner-controlled pause and blacklist (USDC/USDT-like controls).
///         Revert reasons, chosen so both decoding paths get exercised:
///         - while paused, every transfer/mint/burn reverts with OpenZeppelin's custom error
///           `EnforcedPause()` (selector 0xd93c0665);
///         - a blacklisted SENDER (`from`) reverts with the reason string
///           "PausableToken: sender blacklisted" (standard `Error(string)`, selector 0x08c379a0);
///         - a blacklisted RECIPIENT (`to`) reverts with the custom error
///           `AccountBlacklisted(address account)`.
contract PausableToken is ERC20, ERC20Pausable, Ownable {
    error AccountBlacklisted(address account);

    event Blacklisted(address indexed account);
    event UnBlacklisted(address indexed account);

    uint8 private immutable _decimals;
    mapping(address => bool) public isBlacklisted;

    constructor(string memory name_, string memory symbol_, uint8 decimals_)
        ERC20(name_, symbol_)
        Ownable(msg.sender)
    {
        _decimals = decimals_;
    }

    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }

    function pause() external onlyOwner {
        _pause();
    }

    function unpause() external onlyOwner {
        _unpause();
    }

    function blacklist(address account) external onlyOwner {
        isBlacklisted[account] = true;
        emit Blacklisted(account);
    }

    function unBlacklist(address account) external onlyOwner {
        isBlacklisted[account] = false;
        emit UnBlacklisted(account);
    }

    function _update(address from, address to, uint256 value)
        internal
        override(ERC20, ERC20Pausable)
    {
        require(!isBlacklisted[from], "PausableToken: sender blacklisted");
        if (isBlacklisted[to]) {
            revert AccountBlacklisted(to);
        }
        super._update(from, to, value); // ERC20Pausable: reverts EnforcedPause() when paused
    }
}
