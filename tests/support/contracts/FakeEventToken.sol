// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title FakeEventToken
/// @notice A scam-style "token" that emits ERC-20 `Transfer` events without moving any
///         balance. `balanceOf` is 0 for every address and `totalSupply` is 0.
///         - `fakeTransfer(from, to, value)`: anyone can emit Transfer(from, to, value).
///         - `transfer(to, value)`: emits Transfer(msg.sender, to, value), returns true,
///           moves nothing.
///         A deposit proven only by its Transfer log is therefore not proven.
contract FakeEventToken {
    event Transfer(address indexed from, address indexed to, uint256 value);

    string public name;
    string public symbol;
    uint8 public immutable decimals;

    constructor(string memory name_, string memory symbol_, uint8 decimals_) {
        name = name_;
        symbol = symbol_;
        decimals = decimals_;
    }

    function totalSupply() external pure returns (uint256) {
        return 0;
    }

    function balanceOf(address) external pure returns (uint256) {
        return 0;
    }

    function fakeTransfer(address from, address to, uint256 value) external {
        emit Transfer(from, to, value);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        emit Transfer(msg.sender, to, value);
        return true;
    }
}
