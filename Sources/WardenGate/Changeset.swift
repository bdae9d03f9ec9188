/// What one agent changed, relative to the workspace version it started from.
public struct Changeset: Sendable {
    public struct Entry: Sendable, Equatable {
        public enum Action: Sendable, Equatable {
            /// A regular file with this content and mode (permission bits only). `source` is
            /// the frozen copy the gate reads it from, never the agent's live file.
            case write(source: String, mode: UInt32, size: Int64)
            /// The path is gone (an overlay whiteout).
            case delete
            /// A directory; `opaque` replaces whatever the workspace had there.
            case directory(mode: UInt32, opaque: Bool)
            /// A symlink with this target text.
            case symlink(target: String)
        }

        /// The workspace-relative path as the agent's filesystem held it.
        public var rawPath: [UInt8]
        public var action: Action
        /// The version this entry's conflict check starts from, when it is not the
        /// changeset's: a path the same run already committed mid-run (`warden submit`) is
        /// checked against that commit, so the run's own commit is no conflict and anyone
        /// else's later one still is.
        public var base: Int64?

        /// The path as text (invalid UTF-8 shows as U+FFFD; GatePath reports it).
        public var path: String { String(decoding: rawPath, as: UTF8.self) }

        public init(rawPath: [UInt8], action: Action) {
            self.rawPath = rawPath
            self.action = action
        }

        public init(_ path: String, _ action: Action) {
            self.init(rawPath: Array(path.utf8), action: action)
        }
    }

    /// The workspace version (commit sequence number) the agent's view showed.
    public var base: Int64
    public var entries: [Entry]
    /// Problems found while reading the changeset (types, limits) that only the filesystem
    /// shows; the validator adds them to its own.
    public var scanFindings: [GateFinding]

    public init(base: Int64, entries: [Entry], scanFindings: [GateFinding] = []) {
        self.base = base
        self.entries = entries
        self.scanFindings = scanFindings
    }

    /// Bytes of file content the changeset carries.
    public var totalBytes: Int64 {
        entries.reduce(0) { sum, e in if case let .write(_, _, size) = e.action { return sum + size } else { return sum } }
    }
}

/// The caps a changeset must stay under. Checked from metadata before any content is read, so
/// a 10 GiB sparse file or 200,000 entries cost a stat each, not a read.
public struct GateLimits: Sendable, Equatable {
    public var maxEntries: Int
    public var maxFileBytes: Int64
    public var maxTotalBytes: Int64
    public var maxDepth: Int
    public var maxPathBytes: Int

    public init(maxEntries: Int = 5000, maxFileBytes: Int64 = 64 << 20, maxTotalBytes: Int64 = 256 << 20,
                maxDepth: Int = 64, maxPathBytes: Int = GatePath.maxBytes) {
        self.maxEntries = maxEntries
        self.maxFileBytes = maxFileBytes
        self.maxTotalBytes = maxTotalBytes
        self.maxDepth = maxDepth
        self.maxPathBytes = maxPathBytes
    }
}
