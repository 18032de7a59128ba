// The client's public event types.
export {};
