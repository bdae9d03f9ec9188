import ArgumentParser
import Glibc

/// `warden submit`, run by an agent inside its sandbox: asks the runner, over the control
/// channel it inherited (fd 3, `WARDEN_CONTROL_FD`), to commit what its view holds now.
struct SubmitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "From inside a sandbox: commit the view's changes so far, while the agent keeps running.",
        discussion: """
        Only inside `warden run` with a view. The runner stops every process
        of the sandbox, copies the upper layer's files to a place the agent
        cannot reach, lets the sandbox run on, and offers the copies to the
        gate (the same checks as at exit). Later changesets (another submit,
        or the one at exit) leave out what was committed and is unchanged.

        Inside, warden is at $WARDEN_EXE:   "$WARDEN_EXE" submit fix parser
        The channel is fd 3 (WARDEN_CONTROL_FD=3). A shell does the same:
          printf 'submit\\n' >&3; read -r reply <&3; echo "$reply"

        Request: one line, `submit` or `submit TASK`, at most 4096 bytes.
        Reply: one line: `committed SEQ`, `nothing`, `refused: PATH: RULE:
        ...; ...` or `error: ...`.

        Exit status: 0 committed or nothing to commit; 73 refused by the gate
        (nothing applied; the agent may fix its changes and submit again);
        70 an error; 64 not inside a sandbox with a view.
        """
    )

    @Argument(help: "The commit's task (free text, one line).")
    var task: [String] = []

    func run() throws {
        guard let value = processEnvironment()["WARDEN_CONTROL_FD"], let fd = Int32(value), fd >= 0 else {
            complain("submit works only inside `warden run` with a view (WARDEN_CONTROL_FD is not set)")
            throw ExitCode(WardenExit.usage)
        }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFSOCK else {
            complain("submit: fd \(fd) (WARDEN_CONTROL_FD) is not the runner's control channel")
            throw ExitCode(WardenExit.usage)
        }
        let text = task.joined(separator: " ")
        guard !text.contains("\n") else {
            throw ValidationError("the task must be one line")
        }
        let request = Array((text.isEmpty ? "submit" : "submit " + text).utf8) + [UInt8(ascii: "\n")]
        var done = 0
        while done < request.count {
            let n = request.withUnsafeBytes { send(fd, $0.baseAddress! + done, $0.count - done, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                complain("submit: cannot write to the control channel: \(String(cString: strerror(errno)))")
                throw ExitCode(WardenExit.internalError)
            }
            done += n
        }
        var reply: [UInt8] = []
        var byte: UInt8 = 0
        while reply.count < 1 << 20 {
            let n = read(fd, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 || byte == UInt8(ascii: "\n") { break }
            reply.append(byte)
        }
        let line = String(decoding: reply, as: UTF8.self)
        guard !line.isEmpty else {
            complain("submit: the runner closed the control channel without a reply")
            throw ExitCode(WardenExit.internalError)
        }
        print(line)
        if line.hasPrefix("committed") || line == "nothing" { return }
        throw ExitCode(line.hasPrefix("refused") ? WardenExit.gateRejected : WardenExit.internalError)
    }
}
