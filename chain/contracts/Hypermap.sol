// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {
    ERC6551_REGISTRY,
    HYPER_ACCOUNT,
    OS_ACCOUNT_PROXY,
    OS_NAMEHASH,
    ZEROTH_ACCOUNT_PROXY
} from "./Constants.sol";
import {AccountProxy} from "./AccountProxy.sol";

interface IERC6551Registry {
    function createAccount(
        address implementation,
        bytes32 salt,
        uint256 chainId,
        address tokenContract,
        uint256 tokenId
    ) external returns (address);
}

interface IERC721Receiver {
    function onERC721Received(address operator, address from, uint256 tokenId, bytes calldata data)
        external
        returns (bytes4);
}

/// Hypermap: a path-value namespace. Every name entry is an ERC-721 token (id = its namehash) with
/// an ERC-6551 token-bound account (TBA); an entry acts through its TBA: minting entries beneath
/// it, writing notes (mutable data, label `~...`) and facts (immutable, `!...`), setting a gene
/// (the account implementation its children get). namehash(child) =
/// keccak256(namehash(parent) ++ keccak256(label)); the root (zeroth) entry's namehash is 0.
///
/// Runs behind HypermapProxy (ERC-1967), so address(this) is the proxy.
contract Hypermap {
    // Events: names, parameter types and indexed-ness as process_lib's hypermap.rs declares them.
    event Mint(bytes32 indexed parenthash, bytes32 indexed childhash, bytes indexed labelhash, bytes label);
    event Fact(
        bytes32 indexed parenthash, bytes32 indexed facthash, bytes indexed labelhash, bytes label, bytes data
    );
    event Note(
        bytes32 indexed parenthash, bytes32 indexed notehash, bytes indexed labelhash, bytes label, bytes data
    );
    event Gene(bytes32 indexed entry, address indexed gene);
    event Zero(address indexed zeroTba);
    event Transfer(address indexed from, address indexed to, uint256 indexed id);
    event Approval(address indexed owner, address indexed spender, uint256 indexed id);
    event ApprovalForAll(address indexed owner, address indexed operator, bool approved);

    error AlreadyInitialized();
    error NotAnEntryAccount(address caller);
    error InvalidLabel(bytes label);
    error EntryExists(bytes32 namehash);
    error FactExists(bytes32 facthash);
    error GeneExists(bytes32 entry);
    error NoSuchEntry(uint256 id);
    error ZeroAddress();
    error NotAContract(address implementation);
    error NotAuthorized();
    error WrongOwner();
    error UnsafeRecipient(address to);
    error MissingAccountProxy(address accountProxy);

    struct Entry {
        address owner;
        address tba;
        address gene;
    }

    struct Account {
        bool known;
        bytes32 entry;
    }

    bool private _initialized;
    mapping(bytes32 namehash => Entry) private _entries;
    mapping(bytes32 namehash => bytes) private _data;
    mapping(bytes32 facthash => bool) private _factWritten;
    mapping(address tba => Account) private _accounts;
    mapping(address holder => uint256) private _balances;
    mapping(uint256 id => address) private _approvals;
    mapping(address holder => mapping(address operator => bool)) private _operators;

    // ---- setup ---------------------------------------------------------------------------------

    /// Mints the zeroth entry (namehash 0) to `owner`, with a HyperAccount TBA. Once.
    function initialize(address owner) external {
        if (_initialized) revert AlreadyInitialized();
        if (owner == address(0)) revert ZeroAddress();
        _initialized = true;
        address tba = _create(bytes32(0), owner, HYPER_ACCOUNT, "", false, "");
        emit Zero(tba);
    }

    // ---- entries -------------------------------------------------------------------------------

    /// Mints `label` beneath the calling TBA's entry to `who`, creates its TBA with `implementation`
    /// (the parent's gene instead, if it has one) and calls the TBA with `initialization`.
    function mint(address who, bytes calldata label, bytes calldata initialization, address implementation)
        external
        returns (address tba)
    {
        return _mint(who, label, initialization, implementation, false, "");
    }

    /// The same, with ERC-721 safe-mint semantics: a contract `who` must accept the token.
    function mint(
        address who,
        bytes calldata label,
        bytes calldata initialization,
        bytes calldata erc721Data,
        address implementation
    ) external returns (address tba) {
        return _mint(who, label, initialization, implementation, true, erc721Data);
    }

    /// Writes a note (mutable) beneath the calling TBA's entry.
    function note(bytes calldata label, bytes calldata data) external returns (bytes32 notehash) {
        bytes32 parent = _callerEntry();
        if (label.length < 2 || label[0] != "~" || !_validChars(label, 1)) revert InvalidLabel(label);
        notehash = keccak256(abi.encodePacked(parent, keccak256(label)));
        _data[notehash] = data;
        emit Note(parent, notehash, label, label, data);
    }

    /// Writes a fact (immutable: once) beneath the calling TBA's entry.
    function fact(bytes calldata label, bytes calldata data) external returns (bytes32 facthash) {
        bytes32 parent = _callerEntry();
        if (label.length < 2 || label[0] != "!" || !_validChars(label, 1)) revert InvalidLabel(label);
        facthash = keccak256(abi.encodePacked(parent, keccak256(label)));
        if (_factWritten[facthash]) revert FactExists(facthash);
        _factWritten[facthash] = true;
        _data[facthash] = data;
        emit Fact(parent, facthash, label, label, data);
    }

    /// Sets the calling TBA's entry's gene: the account implementation of every entry minted
    /// beneath it from now on (and their gene in turn). Once.
    function gene(address implementation) external {
        bytes32 entry = _callerEntry();
        if (_entries[entry].gene != address(0)) revert GeneExists(entry);
        if (implementation.code.length == 0) revert NotAContract(implementation);
        _entries[entry].gene = implementation;
        emit Gene(entry, implementation);
    }

    /// A name entry: (its TBA, its owner, empty); a note or fact: (0, 0, its data); else zeros.
    function get(bytes32 namehash) external view returns (address tba, address owner, bytes memory data) {
        Entry storage e = _entries[namehash];
        if (e.owner != address(0)) return (e.tba, e.owner, "");
        return (address(0), address(0), _data[namehash]);
    }

    function tbaOf(uint256 entry) external view returns (address tba) {
        return _entries[bytes32(entry)].tba;
    }

    // ---- ERC-721 -------------------------------------------------------------------------------

    function name() external pure returns (string memory) {
        return "Hypermap";
    }

    function symbol() external pure returns (string memory) {
        return "HYPR";
    }

    function balanceOf(address holder) external view returns (uint256) {
        if (holder == address(0)) revert ZeroAddress();
        return _balances[holder];
    }

    function ownerOf(uint256 id) public view returns (address holder) {
        holder = _entries[bytes32(id)].owner;
        if (holder == address(0)) revert NoSuchEntry(id);
    }

    function getApproved(uint256 id) external view returns (address) {
        ownerOf(id);
        return _approvals[id];
    }

    function isApprovedForAll(address holder, address operator) public view returns (bool) {
        return _operators[holder][operator];
    }

    function setApprovalForAll(address operator, bool approved) external {
        _operators[msg.sender][operator] = approved;
        emit ApprovalForAll(msg.sender, operator, approved);
    }

    function approve(address spender, uint256 id) external {
        address holder = ownerOf(id);
        if (msg.sender != holder && !isApprovedForAll(holder, msg.sender)) revert NotAuthorized();
        _approvals[id] = spender;
        emit Approval(holder, spender, id);
    }

    function transferFrom(address from, address to, uint256 id) public {
        address holder = ownerOf(id);
        if (holder != from) revert WrongOwner();
        if (msg.sender != holder && !isApprovedForAll(holder, msg.sender) && msg.sender != _approvals[id]) {
            revert NotAuthorized();
        }
        _transfer(from, to, id);
    }

    function safeTransferFrom(address from, address to, uint256 id) external {
        safeTransferFrom(from, to, id, "");
    }

    function safeTransferFrom(address from, address to, uint256 id, bytes memory data) public {
        transferFrom(from, to, id);
        _checkReceiver(from, to, id, data);
    }

    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == 0x01ffc9a7 // ERC-165
            || interfaceId == 0x80ac58cd; // ERC-721
    }

    // ---- internals -----------------------------------------------------------------------------

    function _mint(
        address who,
        bytes calldata label,
        bytes calldata initialization,
        address implementation,
        bool safe,
        bytes memory erc721Data
    ) private returns (address tba) {
        bytes32 parent = _callerEntry();
        if (label.length == 0 || !_validChars(label, 0)) revert InvalidLabel(label);
        bytes32 child = keccak256(abi.encodePacked(parent, keccak256(label)));
        if (_entries[child].owner != address(0)) revert EntryExists(child);
        address inherited = _entries[parent].gene;
        if (inherited != address(0)) implementation = inherited;
        emit Mint(parent, child, label, label);
        tba = _create(child, who, implementation, initialization, safe, erc721Data);
        if (inherited != address(0)) _entries[child].gene = inherited;
    }

    /// Creates entry `h` owned by `who`: its TBA (through its account proxy), the token (held by
    /// Hypermap while the TBA runs `initialization`, so the TBA's owner checks pass), then hands
    /// the token to `who`.
    function _create(
        bytes32 h,
        address who,
        address implementation,
        bytes memory initialization,
        bool safe,
        bytes memory erc721Data
    ) private returns (address tba) {
        if (who == address(0)) revert ZeroAddress();
        if (implementation.code.length == 0) revert NotAContract(implementation);
        address accountProxy = _accountProxy(h);
        tba = IERC6551Registry(ERC6551_REGISTRY).createAccount(
            accountProxy, h, block.chainid, address(this), uint256(h)
        );
        _entries[h].tba = tba;
        _accounts[tba] = Account(true, h);
        _entries[h].owner = address(this);
        _balances[address(this)] += 1;
        emit Transfer(address(0), address(this), uint256(h));
        AccountProxy(payable(tba)).initializeAccountProxy(implementation);
        if (initialization.length != 0) {
            (bool ok, bytes memory ret) = tba.call(initialization);
            if (!ok) {
                assembly {
                    revert(add(ret, 0x20), mload(ret))
                }
            }
        }
        _transfer(address(this), who, uint256(h));
        if (safe) _checkReceiver(address(0), who, uint256(h), erc721Data);
    }

    function _accountProxy(bytes32 h) private returns (address accountProxy) {
        if (h == bytes32(0)) accountProxy = ZEROTH_ACCOUNT_PROXY;
        else if (h == OS_NAMEHASH) accountProxy = OS_ACCOUNT_PROXY;
        else return address(new AccountProxy{salt: h}());
        if (accountProxy.code.length == 0) revert MissingAccountProxy(accountProxy);
    }

    function _transfer(address from, address to, uint256 id) private {
        if (to == address(0)) revert ZeroAddress();
        delete _approvals[id];
        _balances[from] -= 1;
        _balances[to] += 1;
        _entries[bytes32(id)].owner = to;
        emit Transfer(from, to, id);
    }

    function _checkReceiver(address from, address to, uint256 id, bytes memory data) private {
        if (to.code.length == 0) return;
        try IERC721Receiver(to).onERC721Received(msg.sender, from, id, data) returns (bytes4 answer) {
            if (answer != IERC721Receiver.onERC721Received.selector) revert UnsafeRecipient(to);
        } catch {
            revert UnsafeRecipient(to);
        }
    }

    function _callerEntry() private view returns (bytes32) {
        Account storage a = _accounts[msg.sender];
        if (!a.known) revert NotAnEntryAccount(msg.sender);
        return a.entry;
    }

    /// a-z, 0-9 and '-' from `start` on.
    function _validChars(bytes calldata label, uint256 start) private pure returns (bool) {
        for (uint256 i = start; i < label.length; ++i) {
            bytes1 c = label[i];
            if (!((c >= "a" && c <= "z") || (c >= "0" && c <= "9") || c == "-")) return false;
        }
        return true;
    }
}
