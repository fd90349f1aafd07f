/** `kap-bridge openapi`: the therapist API's OpenAPI document, as served at /api/v1/openapi.json. */
import { openApiDocument } from '../http/openapi.js';
import { type Command, EXIT } from './command.js';

export const openapi: Command = {
  name: 'openapi',
  summary: "print the therapist API's OpenAPI document (JSON)",
  usage: 'Usage: kap-bridge openapi\n\nPrints the OpenAPI 3.1 document served at /api/v1/openapi.json.',
  async run(args, io) {
    if (args.length > 0) {
      io.stderr(
        args[0] === '--help' || args[0] === '-h'
          ? this.usage
          : `openapi takes no arguments.\n\n${this.usage}`,
      );
      return args[0] === '--help' || args[0] === '-h' ? EXIT.ok : EXIT.usage;
    }
    io.stdout(JSON.stringify(openApiDocument, null, 2));
    return EXIT.ok;
  },
};
