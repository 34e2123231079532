// Every native signature of this assembly uses only primitives and pointers; with runtime
// marshalling disabled, the P/Invoke stubs pass them through unchanged (no hidden copies), and a
// declaration that would need marshalling is a compile error instead of a silent conversion.
[assembly: System.Runtime.CompilerServices.DisableRuntimeMarshalling]
