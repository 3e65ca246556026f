import UserPlatform

/// Values the host wrote into this task's image before boot (`swiftlet run --seed TASK=VALUE`; the system
/// tests pick a fresh seed this way), read from the words after a marker in the task's data.
public enum TaskParameters {
    /// The seed, or nil when the image carries none.
    public static var seed: UInt64? {
        let value = user_task_parameter(0)
        return value == 0 ? nil : value
    }
}
