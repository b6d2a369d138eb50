// The baseline: fastify with a constant route, in its own process like the services.
import Fastify from 'fastify';

const app = Fastify();
app.get('/const', () => ({ status: 'in_progress' }));
app.post('/const', () => ({ status: 'accepted' }));
await app.listen({ port: Number(process.argv[2] ?? 0), host: '127.0.0.1' });
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
