// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title FeeOnTransferToken
/// @notice ERC-20 that burns `feeBps` basis points (default 200 = 2%) of every transfer
///         between two non-zero addresses. Mints and burns are not taxed.
/// @dev Events are TRUTHFUL: a transfer of `value` emits two events,
///      `Transfer(from, address(0), fee)` (the burn) and then
///      `Transfer(from, to, value - fee)` (what the recipient really received).
///      So the recipient's Transfer event and balance increase both equal `value - fee`,
///      which is less than the `value` the sender passed to transfer/transferFrom.
///      The sender's balance falls by the full `value`; totalSupply falls by `fee`.
contract FeeOnTransferToken is ERC20, Ownable {
    uint8 private immutable _decimals;
    uint256 public feeBps = 200;

    event FeeChanged(uint256 feeBps);

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

    /// @notice Change the fee (basis points, at most 10000).
    function setFeeBps(uint256 newFeeBps) external onlyOwner {
        require(newFeeBps <= 10_000, "FeeOnTransferToken: fee too high");
        feeBps = newFeeBps;
        emit FeeChanged(newFeeBps);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from == address(0) || to == address(0) || feeBps == 0) {
            super._update(from, to, value);
            return;
        }
        uint256 fee = (value * feeBps) / 10_000;
        if (fee > 0) {
            super._update(from, address(0), fee); // burn, emits Transfer(from, 0x0, fee)
        }
        super._update(from, to, value - fee); // emits Transfer(from, to, value - fee)
    }
}
