import SwiftletABI

extension StartupBlock {
    /// Word `index` of this task's startup block, as the root task wrote it from the task's configuration
    /// node (0: the node has no such setting). It lies above the first stack pointer, so the task's stack
    /// never overwrites it.
    public static func word(_ index: Int) -> UInt64 {
        guard index >= 0, index < words else { return 0 }
        return UnsafePointer<UInt64>(bitPattern: UInt(address))![index]
    }
}
