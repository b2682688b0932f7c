/** intentd's Node.js client: the typed wrapper, its retry policy, and every generated message type. */
export * from "./client";
export * from "./retry";
export * from "./gen/intentd/v1/intentd";
