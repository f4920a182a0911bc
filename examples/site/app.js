// Proves that scripts are served with a type the browser runs.
const status = document.getElementById('js-status');
status.textContent = 'JavaScript ran: served at ' + new Date().toLocaleTimeString() + '.';
status.className = 'ok';
