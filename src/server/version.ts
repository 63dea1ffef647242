/** The server's version, as package.json says (a test keeps the two equal): what MCP clients are told. */
export const SERVER_VERSION = '0.1.0';
