<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="es_ES">
<context>
    <name>BodySites</name>
    <message>
        <source>Head structure</source>
        <extracomment>The long side of the first, DCT-scaled decode: enough for a full-screen fit. The displays of app.image_metadata.BODY_SITES, marked for the catalogue (context ``BodySites``): app/ has no Qt, so the marks live here; body_site_text() translates.</extracomment>
        <translation>Cabeza</translation>
    </message>
    <message>
        <source>Face structure</source>
        <translation>Cara</translation>
    </message>
    <message>
        <source>Nasal structure</source>
        <translation>Nariz</translation>
    </message>
    <message>
        <source>Mouth region structure</source>
        <translation>Boca</translation>
    </message>
    <message>
        <source>Tongue structure</source>
        <translation>Lengua</translation>
    </message>
    <message>
        <source>Pharyngeal structure</source>
        <translation>Faringe</translation>
    </message>
    <message>
        <source>Ear structure</source>
        <translation>Oído</translation>
    </message>
    <message>
        <source>Tympanic membrane structure</source>
        <translation>Membrana timpánica</translation>
    </message>
    <message>
        <source>Eye structure</source>
        <translation>Ojo</translation>
    </message>
    <message>
        <source>Retinal structure</source>
        <translation>Retina</translation>
    </message>
    <message>
        <source>Neck structure</source>
        <translation>Cuello</translation>
    </message>
    <message>
        <source>Thoracic structure</source>
        <translation>Tórax</translation>
    </message>
    <message>
        <source>Back structure</source>
        <translation>Espalda</translation>
    </message>
    <message>
        <source>Abdomen structure</source>
        <translation>Abdomen</translation>
    </message>
    <message>
        <source>Upper arm structure</source>
        <translation>Brazo</translation>
    </message>
    <message>
        <source>Forearm structure</source>
        <translation>Antebrazo</translation>
    </message>
    <message>
        <source>Hand structure</source>
        <translation>Mano</translation>
    </message>
    <message>
        <source>Finger structure</source>
        <translation>Dedo de la mano</translation>
    </message>
    <message>
        <source>Nail structure</source>
        <translation>Uña</translation>
    </message>
    <message>
        <source>Thigh structure</source>
        <translation>Muslo</translation>
    </message>
    <message>
        <source>Lower leg structure</source>
        <translation>Pierna</translation>
    </message>
    <message>
        <source>Foot structure</source>
        <translation>Pie</translation>
    </message>
    <message>
        <source>Toe structure</source>
        <translation>Dedo del pie</translation>
    </message>
    <message>
        <source>Skin structure</source>
        <translation>Piel</translation>
    </message>
</context>
<context>
    <name>CodingHooks</name>
    <message>
        <source>&amp;Safety</source>
        <translation>&amp;Seguridad</translation>
    </message>
    <message>
        <source>&amp;Coding suggestion</source>
        <translation>Sugerencia de &amp;codificación</translation>
    </message>
    <message>
        <source>Emergency &amp;plan…</source>
        <translation>&amp;Plan de emergencia…</translation>
    </message>
    <message>
        <source>&amp;Escalate…</source>
        <translation>&amp;Escalar…</translation>
    </message>
    <message>
        <source>Emergency: the patient&apos;s address, callback and the emergency number</source>
        <translation>Emergencia: la dirección del paciente, el número para devolver la llamada y el número de emergencia</translation>
    </message>
    <message>
        <source>The escalation text is on the clipboard.</source>
        <translation>El texto de la escalada está en el portapapeles.</translation>
    </message>
    <message>
        <source>Escalate</source>
        <translation>Escalar</translation>
    </message>
    <message>
        <source>Escalate: emergency number and plan</source>
        <translation>Escalar: número y plan de emergencia</translation>
    </message>
</context>
<context>
    <name>CodingReasons</name>
    <message>
        <source>Audio-only telemedicine codes need more than {minutes} minutes of medical discussion: no code suggested.</source>
        <translation>Los códigos de telemedicina solo por audio requieren más de {minutes} minutos de conversación médica: no se sugiere ningún código.</translation>
    </message>
    <message>
        <source>Audio-only: confirm that more than {minutes} minutes were medical discussion.</source>
        <translation>Solo audio: confirme que más de {minutes} minutos fueron de conversación médica.</translation>
    </message>
    <message>
        <source>{code}: {minutes} min of consultative discussion and review ({low}).</source>
        <translation>{code}: {minutes} min de conversación y revisión de interconsulta ({low}).</translation>
    </message>
    <message>
        <source>Less than 5 minutes of consultative time: no interprofessional code.</source>
        <translation>Menos de 5 minutos de tiempo de interconsulta: ningún código interprofesional.</translation>
    </message>
    <message>
        <source>99446-99449 need more than half of the time spent in verbal or online discussion; not reportable if the patient saw this consultant in the past 14 days or a transfer of care or visit with the consultant follows within 14 days.</source>
        <translation>99446-99449 requieren que más de la mitad del tiempo se dedique a conversación verbal o en línea; no se pueden facturar si el paciente vio a este consultor en los últimos 14 días o si en los 14 días siguientes hay un traspaso de atención o una visita con el consultor.</translation>
    </message>
    <message>
        <source>99452: {minutes} min of referral work by the requesting clinician (16 min or more, the midpoint of its 30 minutes).</source>
        <translation>99452: {minutes} min de trabajo de derivación del profesional solicitante (16 min o más, el punto medio de sus 30 minutos).</translation>
    </message>
    <message>
        <source>99452 needs 16 min or more of referral work ({minutes} min given): no code.</source>
        <translation>99452 requiere 16 min o más de trabajo de derivación (se indicaron {minutes} min): ningún código.</translation>
    </message>
    <message>
        <source>99451: written report only, {minutes} min of consultative time (5 min or more).</source>
        <translation>99451: solo informe escrito, {minutes} min de tiempo de interconsulta (5 min o más).</translation>
    </message>
    <message>
        <source>{code} chosen: the higher of the levels by time and by medical decision making.</source>
        <translation>Se eligió {code}: el más alto de los niveles por tiempo y por toma de decisiones médicas.</translation>
    </message>
    <message>
        <source>G2010: remote evaluation of images or video the established patient sent, with follow-up within 24 business hours; not from a related E/M in the past 7 days nor leading to one within 24 hours.</source>
        <translation>G2010: evaluación a distancia de imágenes o video que envió el paciente establecido, con seguimiento en 24 horas hábiles; no debe derivar de un E/M relacionado en los últimos 7 días ni dar lugar a uno en las 24 horas siguientes.</translation>
    </message>
    <message>
        <source>G2010 is for established patients only: no code for a new patient.</source>
        <translation>G2010 es solo para pacientes establecidos: ningún código para un paciente nuevo.</translation>
    </message>
    <message>
        <source>{mdm} medical decision making supports {code} ({patient} patient).</source>
        <translation>Una toma de decisiones médicas de complejidad {mdm} respalda {code} (paciente {patient}).</translation>
    </message>
    <message>
        <source>Modifier {modifier}: synchronous {modality} telehealth.</source>
        <translation>Modificador {modifier}: telesalud sincrónica de {modality}.</translation>
    </message>
    <message>
        <source>No telehealth modifier: the code itself is a telemedicine code.</source>
        <translation>Sin modificador de telesalud: el código en sí es un código de telemedicina.</translation>
    </message>
    <message>
        <source>No telehealth place of service: the claim names where the clinician worked.</source>
        <translation>Sin lugar de servicio de telesalud: la reclamación indica dónde trabajó el profesional.</translation>
    </message>
    <message>
        <source>No E/M level: give the total time or pick the level of medical decision making.</source>
        <translation>Sin nivel de E/M: indique el tiempo total o elija el nivel de toma de decisiones médicas.</translation>
    </message>
    <message>
        <source>Place of service {pos}: the patient is {where}.</source>
        <translation>Lugar de servicio {pos}: el paciente está {where}.</translation>
    </message>
    <message>
        <source>Total time is {minutes} min or more: a prolonged-service code may apply (not suggested; check the payer&apos;s rules).</source>
        <translation>El tiempo total es de {minutes} min o más: puede corresponder un código de servicio prolongado (no se sugiere; revise las reglas del pagador).</translation>
    </message>
    <message>
        <source>Payer &apos;{payer}&apos;: rule in force since {effective} ({source}).</source>
        <translation>Pagador &apos;{payer}&apos;: regla vigente desde {effective} ({source}).</translation>
    </message>
    <message>
        <source>Total time {minutes} min on the date of service meets {code} ({patient} patient: {threshold} min or more).</source>
        <translation>Un tiempo total de {minutes} min en la fecha de servicio cumple con {code} (paciente {patient}: {threshold} min o más).</translation>
    </message>
    <message>
        <source>Total time {minutes} min is below {threshold} min, the lowest level by time ({patient} patient): no level by time.</source>
        <translation>Un tiempo total de {minutes} min es menor que {threshold} min, el nivel más bajo por tiempo (paciente {patient}): ningún nivel por tiempo.</translation>
    </message>
    <message>
        <source>new</source>
        <translation>nuevo</translation>
    </message>
    <message>
        <source>established</source>
        <translation>establecido</translation>
    </message>
    <message>
        <source>Straightforward</source>
        <translation>sencilla</translation>
    </message>
    <message>
        <source>Low</source>
        <translation>baja</translation>
    </message>
    <message>
        <source>Moderate</source>
        <translation>moderada</translation>
    </message>
    <message>
        <source>High</source>
        <translation>alta</translation>
    </message>
    <message>
        <source>at home</source>
        <translation>en su domicilio</translation>
    </message>
    <message>
        <source>not at home (a facility)</source>
        <translation>fuera de su domicilio (en un centro)</translation>
    </message>
    <message>
        <source>audio-video</source>
        <translation>audio y video</translation>
    </message>
    <message>
        <source>audio-only</source>
        <translation>solo audio</translation>
    </message>
    <message>
        <source>31 min or more</source>
        <translation>31 min o más</translation>
    </message>
    <message>
        <source>payer table</source>
        <translation>tabla del pagador</translation>
    </message>
</context>
<context>
    <name>DeviceLabels</name>
    <message>
        <source>Test pattern</source>
        <extracomment>The labels media/ and the plugins give the devices they make up (the demo&apos;s test pattern, tone, camera and heart sound), marked for the catalogue (context ``DeviceLabels``); device_label() translates them. A real device&apos;s own name is in no catalogue and is shown as the OS gives it.</extracomment>
        <translation>Patrón de prueba</translation>
    </message>
    <message>
        <source>Test tone</source>
        <translation>Tono de prueba</translation>
    </message>
    <message>
        <source>Test camera (demo)</source>
        <translation>Cámara de prueba (demostración)</translation>
    </message>
    <message>
        <source>Synthetic heart sound (demo)</source>
        <translation>Sonido cardíaco sintético (demostración)</translation>
    </message>
</context>
<context>
    <name>EconsultQueue</name>
    <message>
        <source>Routine</source>
        <translation>Rutinaria</translation>
    </message>
    <message>
        <source>Urgent</source>
        <translation>Urgente</translation>
    </message>
    <message>
        <source>As soon as possible</source>
        <translation>Lo antes posible</translation>
    </message>
    <message>
        <source>Immediately (stat)</source>
        <translation>Inmediata (stat)</translation>
    </message>
    <message>
        <source>Waiting for the specialist</source>
        <translation>En espera del especialista</translation>
    </message>
    <message>
        <source>Under review</source>
        <translation>En revisión</translation>
    </message>
    <message>
        <source>Answered</source>
        <translation>Respondida</translation>
    </message>
    <message>
        <source>Cancelled</source>
        <translation>Cancelada</translation>
    </message>
    <message>
        <source>E-consult queue</source>
        <translation>Cola de interconsultas electrónicas</translation>
    </message>
    <message>
        <source>E-&amp;consult</source>
        <translation>&amp;Interconsulta electrónica</translation>
    </message>
    <message>
        <source>E-consult &amp;queue</source>
        <translation>Co&amp;la de interconsultas</translation>
    </message>
    <message>
        <source>&amp;Ask a specialist…</source>
        <translation>&amp;Consultar a un especialista…</translation>
    </message>
    <message>
        <source>Choose a visit first, then ask a specialist.</source>
        <translation>Elija primero una visita y luego consulte a un especialista.</translation>
    </message>
    <message>
        <source>Request saved; it is sent at the next sync.</source>
        <translation>Solicitud guardada; se enviará en la próxima sincronización.</translation>
    </message>
</context>
<context>
    <name>ErrorReasons</name>
    <message>
        <source>the request timed out</source>
        <extracomment>Reasons a clinician meets, marked for the catalogue (English source text).</extracomment>
        <translation>la solicitud excedió el tiempo de espera</translation>
    </message>
    <message>
        <source>could not connect</source>
        <translation>no se pudo establecer la conexión</translation>
    </message>
    <message>
        <source>the TLS handshake failed</source>
        <translation>falló el establecimiento de la conexión TLS</translation>
    </message>
    <message>
        <source>the connection closed before the response was complete</source>
        <translation>la conexión se cerró antes de recibir la respuesta completa</translation>
    </message>
    <message>
        <source>HTTP 401: not signed in, or the credentials were refused</source>
        <translation>HTTP 401: sin sesión iniciada, o se rechazaron las credenciales</translation>
    </message>
    <message>
        <source>HTTP 403: the credentials do not permit this request</source>
        <translation>HTTP 403: las credenciales no permiten esta solicitud</translation>
    </message>
    <message>
        <source>HTTP 429: too many requests</source>
        <translation>HTTP 429: demasiadas solicitudes</translation>
    </message>
    <message>
        <source>HTTP 503: the service is unavailable</source>
        <translation>HTTP 503: el servicio no está disponible</translation>
    </message>
    <message>
        <source>the response body is empty</source>
        <translation>la respuesta llegó vacía</translation>
    </message>
    <message>
        <source>the response is not valid JSON</source>
        <translation>la respuesta no es JSON válido</translation>
    </message>
    <message>
        <source>the response is not a FHIR resource</source>
        <translation>la respuesta no es un recurso FHIR</translation>
    </message>
    <message>
        <source>the response&apos;s content encoding is broken</source>
        <translation>la codificación del contenido de la respuesta está dañada</translation>
    </message>
    <message>
        <source>a URL from the server is malformed</source>
        <translation>una URL enviada por el servidor está mal formada</translation>
    </message>
    <message>
        <source>the server did not say where it stored the Binary</source>
        <translation>el servidor no indicó dónde guardó el Binary</translation>
    </message>
    <message>
        <source>a search result entry has no resource</source>
        <translation>una entrada de los resultados de búsqueda no contiene ningún recurso</translation>
    </message>
    <message>
        <source>a Bundle response entry has no response</source>
        <translation>una entrada de la respuesta Bundle no contiene respuesta</translation>
    </message>
    <message>
        <source>a Bundle response entry has no status</source>
        <translation>una entrada de la respuesta Bundle no indica su estado</translation>
    </message>
    <message>
        <source>a Bundle response entry holds a malformed resource</source>
        <translation>una entrada de la respuesta Bundle contiene un recurso mal formado</translation>
    </message>
    <message>
        <source>the Bundle&apos;s entries are malformed</source>
        <translation>las entradas del Bundle están mal formadas</translation>
    </message>
    <message>
        <source>a Bundle entry is malformed</source>
        <translation>una entrada del Bundle está mal formada</translation>
    </message>
    <message>
        <source>a Bundle entry holds a malformed resource</source>
        <translation>una entrada del Bundle contiene un recurso mal formado</translation>
    </message>
    <message>
        <source>the server&apos;s next links go round in a circle</source>
        <translation>los enlaces «next» del servidor forman un círculo</translation>
    </message>
    <message>
        <source>the search has more pages than the console follows</source>
        <translation>la búsqueda tiene más páginas de las que sigue la consola</translation>
    </message>
    <message>
        <source>the Bundle&apos;s links are malformed</source>
        <translation>los enlaces del Bundle están mal formados</translation>
    </message>
    <message>
        <source>a next link is malformed</source>
        <translation>un enlace «next» está mal formado</translation>
    </message>
    <message>
        <source>a next link points to another server</source>
        <translation>un enlace «next» apunta a otro servidor</translation>
    </message>
    <message>
        <source>an auth endpoint URL is malformed</source>
        <translation>una URL de autenticación está mal formada</translation>
    </message>
    <message>
        <source>an auth endpoint URL is not http(s)</source>
        <translation>una URL de autenticación no es http(s)</translation>
    </message>
    <message>
        <source>[record_store] url is not a URL</source>
        <translation>[record_store] url no es una URL</translation>
    </message>
    <message>
        <source>[record_store] url must be an http(s) base URL</source>
        <translation>[record_store] url debe ser una URL base http(s)</translation>
    </message>
    <message>
        <source>the server advertises no SMART token endpoint</source>
        <translation>el servidor no anuncia ningún punto de obtención de tokens SMART</translation>
    </message>
    <message>
        <source>the advertised token endpoint is not a URL</source>
        <translation>el punto de obtención de tokens anunciado no es una URL</translation>
    </message>
    <message>
        <source>the advertised token endpoint is neither HTTPS nor on the FHIR server itself</source>
        <translation>el punto de obtención de tokens anunciado no usa HTTPS ni está en el propio servidor FHIR</translation>
    </message>
    <message>
        <source>the token endpoint did not return a JSON object</source>
        <translation>el punto de obtención de tokens no devolvió un objeto JSON</translation>
    </message>
    <message>
        <source>the token endpoint returned no usable access_token</source>
        <translation>el punto de obtención de tokens no devolvió un access_token utilizable</translation>
    </message>
    <message>
        <source>the token endpoint returned a token that is not bearer</source>
        <translation>el punto de obtención de tokens devolvió un token que no es de tipo bearer</translation>
    </message>
    <message>
        <source>the token endpoint returned an invalid expires_in</source>
        <translation>el punto de obtención de tokens devolvió un expires_in no válido</translation>
    </message>
    <message>
        <source>the record_store secret is not a readable PEM private key</source>
        <translation>el secreto record_store no es una clave privada PEM legible</translation>
    </message>
    <message>
        <source>the RSA private key is shorter than 2048 bits</source>
        <translation>la clave privada RSA tiene menos de 2048 bits</translation>
    </message>
    <message>
        <source>the private key is neither RSA nor EC P-384 (RS384/ES384)</source>
        <translation>la clave privada no es RSA ni EC P-384 (RS384/ES384)</translation>
    </message>
    <message>
        <source>[record_store] auth must be none, basic or smart-backend</source>
        <translation>[record_store] auth debe ser none, basic o smart-backend</translation>
    </message>
    <message>
        <source>[record_store] username is empty or contains &apos;:&apos;</source>
        <translation>[record_store] username está vacío o contiene &apos;:&apos;</translation>
    </message>
    <message>
        <source>[record_store] username (the SMART client id) is empty</source>
        <translation>[record_store] username (el id de cliente SMART) está vacío</translation>
    </message>
    <message>
        <source>SMART backend auth needs exactly one of a private key or a client secret</source>
        <translation>la autenticación SMART backend necesita una clave privada o un secreto de cliente, solo uno de ellos</translation>
    </message>
    <message>
        <source>changed on the server by someone else</source>
        <translation>otra persona lo modificó en el servidor</translation>
    </message>
    <message>
        <source>the server asked to retry later</source>
        <translation>el servidor pidió reintentar más tarde</translation>
    </message>
    <message>
        <source>waiting for its encounter to reach the server</source>
        <translation>espera a que su visita llegue al servidor</translation>
    </message>
    <message>
        <source>several patients on the record store have this MRN</source>
        <translation>varios pacientes del servidor de historias tienen este número de historia clínica</translation>
    </message>
    <message>
        <source>a still&apos;s annotations were changed elsewhere</source>
        <translation>las anotaciones de una foto se modificaron en otro lugar</translation>
    </message>
    <message>
        <source>transaction response entries do not match the request</source>
        <translation>las entradas de la respuesta a la transacción no corresponden a la solicitud</translation>
    </message>
    <message>
        <source>transaction response entries do not match</source>
        <translation>las entradas de la respuesta a la transacción no corresponden</translation>
    </message>
    <message>
        <source>batch response entries do not match the request</source>
        <translation>las entradas de la respuesta al lote no corresponden a la solicitud</translation>
    </message>
    <message>
        <source>the response&apos;s entries do not match the request</source>
        <translation>las entradas de la respuesta no corresponden a la solicitud</translation>
    </message>
    <message>
        <source>the server&apos;s response named no stored resource</source>
        <translation>la respuesta del servidor no nombró ningún recurso guardado</translation>
    </message>
    <message>
        <source>a matching Patient has no id</source>
        <translation>un Patient coincidente no tiene id</translation>
    </message>
    <message>
        <source>the transaction response has no entry</source>
        <translation>la respuesta a la transacción no contiene ninguna entrada</translation>
    </message>
    <message>
        <source>a still is not on the record store yet</source>
        <translation>una foto aún no está en el servidor de historias</translation>
    </message>
    <message>
        <source>the note is not on the record store yet</source>
        <translation>la nota aún no está en el servidor de historias</translation>
    </message>
    <message>
        <source>the visit is not on the record store yet</source>
        <translation>la visita aún no está en el servidor de historias</translation>
    </message>
    <message>
        <source>the request is not on the record store yet</source>
        <translation>la solicitud aún no está en el servidor de historias</translation>
    </message>
    <message>
        <source>a still of this request was deleted before it reached the record store, so the request cannot be sent: cancel it and send a new request with the stills that remain</source>
        <translation>una foto de esta solicitud se eliminó antes de llegar al servidor de historias, por lo que la solicitud no puede enviarse: cancélela y envíe una nueva solicitud con las fotos que quedan</translation>
    </message>
    <message>
        <source>the PACS could not be reached</source>
        <translation>no se pudo contactar con el PACS</translation>
    </message>
    <message>
        <source>the PACS did not confirm the instance</source>
        <translation>el PACS no confirmó la instancia</translation>
    </message>
    <message>
        <source>request</source>
        <translation>solicitud</translation>
    </message>
    <message>
        <source>message</source>
        <translation>mensaje</translation>
    </message>
    <message>
        <source>answer</source>
        <translation>respuesta</translation>
    </message>
    <message>
        <source>status</source>
        <translation>estado</translation>
    </message>
    <message>
        <source>meta is missing or not an object</source>
        <translation>falta meta o no es un objeto</translation>
    </message>
    <message>
        <source>meta.versionId is missing or not a string</source>
        <translation>falta meta.versionId o no es una cadena</translation>
    </message>
    <message>
        <source>meta.lastUpdated is not an instant</source>
        <translation>meta.lastUpdated no es un instante</translation>
    </message>
    <message>
        <source>content[0].attachment.data is not UTF-8 text</source>
        <translation>content[0].attachment.data no es texto UTF-8</translation>
    </message>
    <message>
        <source>a search entry is not a resource</source>
        <translation>una entrada de búsqueda no es un recurso</translation>
    </message>
    <message>
        <source>id is missing</source>
        <translation>falta id</translation>
    </message>
    <message>
        <source>resourceType is not the one searched for</source>
        <translation>resourceType no es el buscado</translation>
    </message>
    <message>
        <source>subject is not the patient this note belongs to</source>
        <translation>subject no es el paciente de esta nota</translation>
    </message>
    <message>
        <source>context.encounter is not this note&apos;s visit</source>
        <translation>context.encounter no es la visita de esta nota</translation>
    </message>
    <message>
        <source>subject is not the patient this visit belongs to</source>
        <translation>subject no es el paciente de esta visita</translation>
    </message>
    <message>
        <source>device stopped</source>
        <translation>el dispositivo se detuvo</translation>
    </message>
    <message>
        <source>no such device</source>
        <translation>no existe ese dispositivo</translation>
    </message>
    <message>
        <source>no such camera</source>
        <translation>no existe esa cámara</translation>
    </message>
    <message>
        <source>no such audio input</source>
        <translation>no existe esa entrada de audio</translation>
    </message>
    <message>
        <source>unknown device id</source>
        <translation>identificador de dispositivo desconocido</translation>
    </message>
    <message>
        <source>no PortAudio library</source>
        <translation>falta la biblioteca PortAudio</translation>
    </message>
    <message>
        <source>cannot open input</source>
        <translation>no se puede abrir la entrada</translation>
    </message>
    <message>
        <source>cannot open output</source>
        <translation>no se puede abrir la salida</translation>
    </message>
    <message>
        <source>cannot open</source>
        <translation>no se puede abrir</translation>
    </message>
    <message>
        <source>cannot list modes</source>
        <translation>no se pueden enumerar los modos</translation>
    </message>
    <message>
        <source>capture failed</source>
        <translation>falló la captura</translation>
    </message>
    <message>
        <source>camera failed</source>
        <translation>falló la cámara</translation>
    </message>
    <message>
        <source>the camera stopped</source>
        <translation>la cámara se detuvo</translation>
    </message>
    <message>
        <source>closed</source>
        <translation>cerrado</translation>
    </message>
    <message>
        <source>corrupt frame</source>
        <translation>fotograma dañado</translation>
    </message>
    <message>
        <source>short frame</source>
        <translation>fotograma incompleto</translation>
    </message>
    <message>
        <source>no still frame</source>
        <translation>ningún fotograma fijo</translation>
    </message>
    <message>
        <source>mode not offered</source>
        <translation>modo no disponible</translation>
    </message>
    <message>
        <source>unsupported size</source>
        <translation>tamaño no admitido</translation>
    </message>
    <message>
        <source>unsupported frame rate</source>
        <translation>frecuencia de fotogramas no admitida</translation>
    </message>
    <message>
        <source>unsupported pixel format</source>
        <translation>formato de píxel no admitido</translation>
    </message>
    <message>
        <source>no supported pixel format</source>
        <translation>ningún formato de píxel admitido</translation>
    </message>
    <message>
        <source>not a video file</source>
        <translation>no es un archivo de video</translation>
    </message>
    <message>
        <source>no audio input</source>
        <translation>ninguna entrada de audio</translation>
    </message>
    <message>
        <source>audio input not granted</source>
        <translation>entrada de audio no concedida</translation>
    </message>
    <message>
        <source>remote stethoscope track is not 48 kHz</source>
        <translation>la pista remota del estetoscopio no es de 48 kHz</translation>
    </message>
    <message>
        <source>no camera is open</source>
        <translation>ninguna cámara abierta</translation>
    </message>
    <message>
        <source>no still to keep</source>
        <translation>ninguna foto para guardar</translation>
    </message>
    <message>
        <source>no encounter is open</source>
        <translation>ninguna visita abierta</translation>
    </message>
    <message>
        <source>the media server closed the connection</source>
        <translation>el servidor de video cerró la conexión</translation>
    </message>
    <message>
        <source>the media server closed</source>
        <translation>el servidor de video se cerró</translation>
    </message>
    <message>
        <source>the media server did not answer</source>
        <translation>el servidor de video no respondió</translation>
    </message>
    <message>
        <source>the media server&apos;s HTTP API does not answer</source>
        <translation>la API HTTP del servidor de video no responde</translation>
    </message>
    <message>
        <source>the media server connection is closed</source>
        <translation>la conexión con el servidor de video está cerrada</translation>
    </message>
    <message>
        <source>that address is not a Janus HTTP API</source>
        <translation>esa dirección no es una API HTTP de Janus</translation>
    </message>
    <message>
        <source>the media server URL must start with wss:// or https:// (its WebSocket or HTTP API)</source>
        <translation>la URL del servidor de video debe empezar por wss:// o https:// (su API WebSocket o HTTP)</translation>
    </message>
    <message>
        <source>the media server needs its room admin key to create rooms</source>
        <translation>el servidor de video necesita su clave de administración de salas para crear salas</translation>
    </message>
    <message>
        <source>the visit room does not exist</source>
        <translation>la sala de la visita no existe</translation>
    </message>
    <message>
        <source>the media server sent an unusable SDP</source>
        <translation>el servidor de video envió un SDP inutilizable</translation>
    </message>
    <message>
        <source>the media server refused the track</source>
        <translation>el servidor de video rechazó la pista</translation>
    </message>
    <message>
        <source>the media server sent no answer</source>
        <translation>el servidor de video no envió respuesta</translation>
    </message>
    <message>
        <source>the remote track ended</source>
        <translation>la pista remota terminó</translation>
    </message>
    <message>
        <source>extra tracks are 48 kHz mono</source>
        <translation>las pistas adicionales son mono a 48 kHz</translation>
    </message>
    <message>
        <source>no visit is running</source>
        <translation>ninguna visita en curso</translation>
    </message>
    <message>
        <source>relay is required but no TURN server is configured</source>
        <translation>se requiere un relé pero no hay ningún servidor TURN configurado</translation>
    </message>
    <message>
        <source>loopback peers did not connect</source>
        <translation>los pares locales no se conectaron</translation>
    </message>
    <message>
        <source>only the host can admit</source>
        <translation>solo el anfitrión puede admitir</translation>
    </message>
    <message>
        <source>only the host can remove participants</source>
        <translation>solo el anfitrión puede retirar participantes</translation>
    </message>
    <message>
        <source>the invite link&apos;s key is damaged: ask the host for a new invite link</source>
        <translation>la clave del enlace de invitación está dañada: pida al anfitrión un enlace nuevo</translation>
    </message>
    <message>
        <source>joining through the waiting room needs the host&apos;s invite link (it carries the key that keeps your name private): paste the link</source>
        <translation>para entrar por la sala de espera hace falta el enlace de invitación del anfitrión (lleva la clave que mantiene privado su nombre): pegue el enlace</translation>
    </message>
    <message>
        <source>this visit admits through its waiting room: paste the host&apos;s invite link (it carries the key that keeps your name private)</source>
        <translation>esta visita admite por su sala de espera: pegue el enlace de invitación del anfitrión (lleva la clave que mantiene privado su nombre)</translation>
    </message>
    <message>
        <source>no such participant</source>
        <translation>no existe ese participante</translation>
    </message>
    <message>
        <source>that participant is not connected</source>
        <translation>ese participante no está conectado</translation>
    </message>
    <message>
        <source>several carts have a camera open: choose one</source>
        <translation>varios carros tienen una cámara abierta: elija uno</translation>
    </message>
    <message>
        <source>nobody is connected to ask</source>
        <translation>no hay nadie conectado a quien pedírsela</translation>
    </message>
    <message>
        <source>nobody in the visit has an exam camera open</source>
        <translation>nadie en la visita tiene abierta una cámara de exploración</translation>
    </message>
    <message>
        <source>the far end did not answer (no exam camera?)</source>
        <translation>el otro extremo no respondió (¿sin cámara de exploración?)</translation>
    </message>
    <message>
        <source>the far end did not send the picture in time</source>
        <translation>el otro extremo no envió la foto a tiempo</translation>
    </message>
    <message>
        <source>the transfer stalled</source>
        <translation>la transferencia se detuvo</translation>
    </message>
    <message>
        <source>the visit is not connected</source>
        <translation>la visita no está conectada</translation>
    </message>
    <message>
        <source>the visit&apos;s data channel did not open</source>
        <translation>el canal de datos de la visita no se abrió</translation>
    </message>
    <message>
        <source>the connection dropped while sending</source>
        <translation>la conexión se cortó durante el envío</translation>
    </message>
    <message>
        <source>enter the media server&apos;s address</source>
        <translation>escriba la dirección del servidor de video</translation>
    </message>
    <message>
        <source>the media server&apos;s address is not a valid URL</source>
        <translation>la dirección del servidor de video no es una URL válida</translation>
    </message>
    <message>
        <source>the media server&apos;s address must start with wss://, ws://, https:// or http://</source>
        <translation>la dirección del servidor de video debe empezar por wss://, ws://, https:// o http://</translation>
    </message>
    <message>
        <source>enter the room number</source>
        <translation>escriba el número de sala</translation>
    </message>
    <message>
        <source>the room must be a number</source>
        <translation>la sala debe ser un número</translation>
    </message>
    <message>
        <source>enter the room PIN</source>
        <translation>escriba el PIN de la sala</translation>
    </message>
    <message>
        <source>the room PIN is not valid</source>
        <translation>el PIN de la sala no es válido</translation>
    </message>
    <message>
        <source>enter your name as others see it</source>
        <translation>escriba su nombre tal como lo verán los demás</translation>
    </message>
    <message>
        <source>this is not a visit invite link</source>
        <translation>esto no es un enlace de invitación a una visita</translation>
    </message>
    <message>
        <source>this is not a visit invite link (nothing after the &apos;#&apos; in it)</source>
        <translation>esto no es un enlace de invitación a una visita (no hay nada después de &apos;#&apos;)</translation>
    </message>
    <message>
        <source>the invite link&apos;s key is damaged; ask for a new link</source>
        <translation>la clave del enlace de invitación está dañada; pida un enlace nuevo</translation>
    </message>
    <message>
        <source>the system keyring is not available</source>
        <translation>el llavero del sistema no está disponible</translation>
    </message>
    <message>
        <source>the system keyring did not keep the new key</source>
        <translation>el llavero del sistema no conservó la clave nueva</translation>
    </message>
    <message>
        <source>the signing key in the keyring is damaged</source>
        <translation>la clave de firma del llavero está dañada</translation>
    </message>
    <message>
        <source>the keyring did not keep the sign-in</source>
        <translation>el llavero no conservó el inicio de sesión</translation>
    </message>
    <message>
        <source>the offline sign-in entry is damaged</source>
        <translation>la entrada de inicio de sesión sin conexión está dañada</translation>
    </message>
    <message>
        <source>its keyring entry is damaged</source>
        <translation>su entrada del llavero está dañada</translation>
    </message>
    <message>
        <source>the PACS bearer token in the keyring is not a b64token</source>
        <translation>el token bearer del PACS guardado en el llavero no es un b64token</translation>
    </message>
    <message>
        <source>[pacs] auth must be none, basic or bearer</source>
        <translation>[pacs] auth debe ser none, basic o bearer</translation>
    </message>
    <message>
        <source>[pacs] username is empty or contains &apos;:&apos;</source>
        <translation>[pacs] username está vacío o contiene &apos;:&apos;</translation>
    </message>
    <message>
        <source>contents unreadable</source>
        <translation>contenido ilegible</translation>
    </message>
    <message>
        <source>the file is empty</source>
        <translation>el archivo está vacío</translation>
    </message>
    <message>
        <source>the file is truncated</source>
        <translation>el archivo está truncado</translation>
    </message>
    <message>
        <source>the file is missing</source>
        <translation>falta el archivo</translation>
    </message>
    <message>
        <source>the connection has no cipher</source>
        <translation>la conexión no tiene cifrado</translation>
    </message>
    <message>
        <source>PRAGMA cipher_version is empty</source>
        <translation>PRAGMA cipher_version está vacío</translation>
    </message>
    <message>
        <source>key metadata unreadable</source>
        <translation>metadatos de la clave ilegibles</translation>
    </message>
    <message>
        <source>its key metadata file is missing</source>
        <translation>falta su archivo de metadatos de la clave</translation>
    </message>
    <message>
        <source>it was changed by something other than the console</source>
        <translation>algo distinto de la consola lo modificó</translation>
    </message>
    <message>
        <source>it is an older copy than the store</source>
        <translation>es una copia más antigua que el almacén</translation>
    </message>
    <message>
        <source>it says the store is still being created, but the store holds records</source>
        <translation>indica que el almacén aún se está creando, pero el almacén contiene registros</translation>
    </message>
    <message>
        <source>its salt is unreadable</source>
        <translation>su sal es ilegible</translation>
    </message>
    <message>
        <source>its key check is implausible</source>
        <translation>su comprobación de clave es inverosímil</translation>
    </message>
    <message>
        <source>it is unreadable</source>
        <translation>es ilegible</translation>
    </message>
    <message>
        <source>its check does not verify</source>
        <translation>su comprobación no se verifica</translation>
    </message>
    <message>
        <source>it cannot be read</source>
        <translation>no se puede leer</translation>
    </message>
    <message>
        <source>its check is missing</source>
        <translation>falta su comprobación</translation>
    </message>
    <message>
        <source>its check does not match</source>
        <translation>su comprobación no coincide</translation>
    </message>
    <message>
        <source>it is not a keyring-mode file</source>
        <translation>no es un archivo del modo llavero</translation>
    </message>
    <message>
        <source>it is not a passphrase-mode file</source>
        <translation>no es un archivo del modo frase de contraseña</translation>
    </message>
    <message>
        <source>it does not match the store&apos;s key mode</source>
        <translation>no coincide con el modo de clave del almacén</translation>
    </message>
    <message>
        <source>the audit key is not loaded</source>
        <translation>la clave de auditoría no está cargada</translation>
    </message>
    <message>
        <source>an attachment does not match its digest</source>
        <translation>un adjunto no coincide con su huella</translation>
    </message>
    <message>
        <source>A PIN of one repeated digit is too easy to guess.</source>
        <translation>Un PIN de un solo dígito repetido es demasiado fácil de adivinar.</translation>
    </message>
    <message>
        <source>network error (%1)</source>
        <extracomment>Reasons with values in them: the English, as a pattern, and its template (%1, %2: the values, in order). The first that matches the whole reason is used.</extracomment>
        <translation>error de red (%1)</translation>
    </message>
    <message>
        <source>network failure: %1</source>
        <translation>fallo de red: %1</translation>
    </message>
    <message>
        <source>unexpected HTTP status %1</source>
        <translation>estado HTTP inesperado %1</translation>
    </message>
    <message>
        <source>the server answered with a redirect (HTTP %1); check [record_store] url</source>
        <translation>el servidor respondió con una redirección (HTTP %1); revise [record_store] url</translation>
    </message>
    <message>
        <source>the response is larger than %1 MiB</source>
        <translation>la respuesta supera los %1 MiB</translation>
    </message>
    <message>
        <source>the media server answered HTTP %1</source>
        <translation>el servidor de video respondió HTTP %1</translation>
    </message>
    <message>
        <source>cannot open %1</source>
        <translation>no se puede abrir %1</translation>
    </message>
    <message>
        <source>no answer to &apos;%1&apos;</source>
        <translation>sin respuesta a &apos;%1&apos;</translation>
    </message>
    <message>
        <source>camera or microphone unavailable: %1</source>
        <translation>cámara o micrófono no disponibles: %1</translation>
    </message>
    <message>
        <source>the PACS refused the instance (HTTP %1)</source>
        <translation>el PACS rechazó la instancia (HTTP %1)</translation>
    </message>
    <message>
        <source>the PACS refused the request (HTTP %1)</source>
        <translation>el PACS rechazó la solicitud (HTTP %1)</translation>
    </message>
    <message>
        <source>needs a decision: %1</source>
        <translation>requiere una decisión: %1</translation>
    </message>
    <message>
        <source>the server&apos;s copy is unusable (%1)</source>
        <translation>la copia del servidor es inutilizable (%1)</translation>
    </message>
    <message>
        <source>unexpected structure (%1)</source>
        <translation>estructura inesperada (%1)</translation>
    </message>
    <message>
        <source>e-consult %1 not sent: %2</source>
        <translation>interconsulta, %1 no enviado: %2</translation>
    </message>
    <message>
        <source>e-consult %1: %2</source>
        <translation>interconsulta, %1: %2</translation>
    </message>
    <message>
        <source>your name as others see it is longer than %1 characters</source>
        <translation>su nombre tal como lo verán los demás supera los %1 caracteres</translation>
    </message>
    <message>
        <source>A PIN needs at least %1 digits.</source>
        <translation>Un PIN necesita al menos %1 dígitos.</translation>
    </message>
    <message>
        <source>A passphrase needs at least %1 characters.</source>
        <translation>Una frase de contraseña necesita al menos %1 caracteres.</translation>
    </message>
    <message>
        <source>sample rate %1 Hz is not supported</source>
        <translation>la frecuencia de muestreo de %1 Hz no es compatible</translation>
    </message>
</context>
<context>
    <name>NoteSigning</name>
    <message>
        <source>Signed</source>
        <translation>Firmada</translation>
    </message>
    <message>
        <source>Not signed</source>
        <translation>Sin firmar</translation>
    </message>
    <message>
        <source>Not signed — overdue</source>
        <translation>Sin firmar — atrasada</translation>
    </message>
    <message>
        <source>Signature does not verify</source>
        <translation>La firma no se verifica</translation>
    </message>
    <message>
        <source>Note signatures</source>
        <translation>Firmas de notas</translation>
    </message>
</context>
<context>
    <name>QtAboutDialog</name>
    <message>
        <source>About Clinician Console</source>
        <translation>Acerca de Clinician Console</translation>
    </message>
    <message>
        <source>Clinician Console</source>
        <translation>Clinician Console</translation>
    </message>
    <message>
        <source>Telemedicine console: visits, encrypted offline notes, FHIR sync.</source>
        <translation>Consola de telemedicina: visitas, notas cifradas sin conexión, sincronización FHIR.</translation>
    </message>
</context>
<context>
    <name>QtAddendumDialog</name>
    <message>
        <source>Add addendum</source>
        <translation>Agregar adenda</translation>
    </message>
    <message>
        <source>A signed note is not changed. Write what you add or correct; it is signed with your key and kept with the note.</source>
        <translation>Una nota firmada no se modifica. Escriba lo que agrega o corrige; se firma con su clave y se guarda con la nota.</translation>
    </message>
    <message>
        <source>Changed on the record store after signing:</source>
        <translation>Cambiado en el servidor de historias después de la firma:</translation>
    </message>
    <message>
        <source>Text changed on the record store</source>
        <translation>Texto cambiado en el servidor de historias</translation>
    </message>
    <message>
        <source>Addendum text</source>
        <translation>Texto de la adenda</translation>
    </message>
    <message>
        <source>Addendum</source>
        <translation>Adenda</translation>
    </message>
    <message>
        <source>Sign addendum</source>
        <translation>Firmar adenda</translation>
    </message>
</context>
<context>
    <name>QtAskSpecialistDialog</name>
    <message>
        <source>Ask a specialist</source>
        <translation>Consultar a un especialista</translation>
    </message>
    <message>
        <source>What would you like the specialist to answer?</source>
        <translation>¿Qué desea que le responda el especialista?</translation>
    </message>
    <message>
        <source>Practitioner/… or HealthcareService/…</source>
        <translation>Practitioner/… o HealthcareService/…</translation>
    </message>
    <message>
        <source>Answer needed by</source>
        <translation>Respuesta necesaria antes del</translation>
    </message>
    <message>
        <source>Include the visit note</source>
        <translation>Incluir la nota de la visita</translation>
    </message>
    <message>
        <source>Question</source>
        <translation>Pregunta</translation>
    </message>
    <message>
        <source>Specialist or service</source>
        <translation>Especialista o servicio</translation>
    </message>
    <message>
        <source>Urgency</source>
        <translation>Urgencia</translation>
    </message>
    <message>
        <source>Still</source>
        <translation>Foto</translation>
    </message>
    <message>
        <source>Recording</source>
        <translation>Grabación</translation>
    </message>
    <message>
        <source>{title} ({when})</source>
        <translation>{title} ({when})</translation>
    </message>
    <message>
        <source>This visit has no stills or recordings.</source>
        <translation>Esta visita no tiene fotos ni grabaciones.</translation>
    </message>
    <message>
        <source>Send</source>
        <translation>Enviar</translation>
    </message>
    <message>
        <source>Send request</source>
        <translation>Enviar solicitud</translation>
    </message>
</context>
<context>
    <name>QtCallDetails</name>
    <message>
        <source>Codec</source>
        <translation>Códec</translation>
    </message>
    <message>
        <source>Resolution</source>
        <translation>Resolución</translation>
    </message>
    <message>
        <source>Frame rate</source>
        <translation>Imágenes por segundo</translation>
    </message>
    <message>
        <source>Bitrate</source>
        <translation>Tasa de bits</translation>
    </message>
    <message>
        <source>Round-trip time</source>
        <translation>Tiempo de ida y vuelta</translation>
    </message>
    <message>
        <source>Packet loss</source>
        <translation>Pérdida de paquetes</translation>
    </message>
    <message>
        <source>Jitter</source>
        <translation>Variación del retardo (jitter)</translation>
    </message>
    <message>
        <source>Connection</source>
        <translation>Conexión</translation>
    </message>
    <message>
        <source>Low-bandwidth mode</source>
        <translation>Modo de poco ancho de banda</translation>
    </message>
    <message>
        <source>Call details</source>
        <translation>Detalles de la llamada</translation>
    </message>
    <message>
        <source>Received</source>
        <translation>Recibido</translation>
    </message>
    <message>
        <source>Sent</source>
        <translation>Enviado</translation>
    </message>
</context>
<context>
    <name>QtCodingDock</name>
    <message>
        <source>Coding</source>
        <translation>Codificación</translation>
    </message>
    <message>
        <source>Select a visit to see its coding suggestion.</source>
        <translation>Seleccione una visita para ver su sugerencia de codificación.</translation>
    </message>
    <message>
        <source>Coding suggestions are unavailable: {reason}</source>
        <translation>Las sugerencias de codificación no están disponibles: {reason}</translation>
    </message>
</context>
<context>
    <name>QtCodingPanel</name>
    <message>
        <source>Coding suggestion</source>
        <translation>Sugerencia de codificación</translation>
    </message>
    <message>
        <source>Visit</source>
        <translation>Visita</translation>
    </message>
    <message>
        <source>E-consult: discussion and report</source>
        <translation>Interconsulta electrónica: conversación e informe</translation>
    </message>
    <message>
        <source>E-consult: written report only</source>
        <translation>Interconsulta electrónica: solo informe escrito</translation>
    </message>
    <message>
        <source>E-consult: requesting clinician</source>
        <translation>Interconsulta electrónica: profesional solicitante</translation>
    </message>
    <message>
        <source>Review of images the patient sent</source>
        <translation>Revisión de imágenes que envió el paciente</translation>
    </message>
    <message>
        <source>Kind of work</source>
        <translation>Tipo de trabajo</translation>
    </message>
    <message>
        <source>Established</source>
        <translation>Establecido</translation>
    </message>
    <message>
        <source>New</source>
        <translation>Nuevo</translation>
    </message>
    <message>
        <source>Patient</source>
        <translation>Paciente</translation>
    </message>
    <message>
        <source>Video</source>
        <translation>Video</translation>
    </message>
    <message>
        <source>Audio only</source>
        <translation>Solo audio</translation>
    </message>
    <message>
        <source>Modality</source>
        <translation>Modalidad</translation>
    </message>
    <message>
        <source>At home</source>
        <translation>En su domicilio</translation>
    </message>
    <message>
        <source>At a facility</source>
        <translation>En un centro</translation>
    </message>
    <message>
        <source>Patient location</source>
        <translation>Ubicación del paciente</translation>
    </message>
    <message>
        <source> min</source>
        <translation> min</translation>
    </message>
    <message>
        <source>Total minutes on the date of service</source>
        <translation>Minutos totales en la fecha de servicio</translation>
    </message>
    <message>
        <source>Not picked</source>
        <translation>Sin elegir</translation>
    </message>
    <message>
        <source>Straightforward</source>
        <translation>Sencilla</translation>
    </message>
    <message>
        <source>Low</source>
        <translation>Baja</translation>
    </message>
    <message>
        <source>Moderate</source>
        <translation>Moderada</translation>
    </message>
    <message>
        <source>High</source>
        <translation>Alta</translation>
    </message>
    <message>
        <source>Medical decision making</source>
        <translation>Toma de decisiones médicas</translation>
    </message>
    <message>
        <source>Payer rules</source>
        <translation>Reglas del pagador</translation>
    </message>
    <message>
        <source>Work</source>
        <translation>Trabajo</translation>
    </message>
    <message>
        <source>Patient is</source>
        <translation>El paciente está</translation>
    </message>
    <message>
        <source>Total time</source>
        <translation>Tiempo total</translation>
    </message>
    <message>
        <source>Decision making</source>
        <translation>Toma de decisiones</translation>
    </message>
    <message>
        <source>Payer</source>
        <translation>Pagador</translation>
    </message>
    <message>
        <source>Suggested code</source>
        <translation>Código sugerido</translation>
    </message>
    <message>
        <source>Modifiers and place of service</source>
        <translation>Modificadores y lugar de servicio</translation>
    </message>
    <message>
        <source>Reasons</source>
        <translation>Motivos</translation>
    </message>
    <message>
        <source>Accept for billing</source>
        <translation>Aceptar para facturación</translation>
    </message>
    <message>
        <source>Accept the suggestion for billing</source>
        <translation>Aceptar la sugerencia para facturación</translation>
    </message>
    <message>
        <source>Coding status</source>
        <translation>Estado de la codificación</translation>
    </message>
    <message>
        <source>No suggestion</source>
        <translation>Sin sugerencia</translation>
    </message>
    <message>
        <source>No code</source>
        <translation>Ningún código</translation>
    </message>
    <message>
        <source>Place of service {pos}</source>
        <translation>Lugar de servicio {pos}</translation>
    </message>
    <message>
        <source>No telehealth place of service</source>
        <translation>Sin lugar de servicio de telesalud</translation>
    </message>
    <message>
        <source>Accepted {code} for billing review; it goes to the record store as a draft.</source>
        <translation>Se aceptó {code} para revisión de facturación; se envía al servidor de historias como borrador.</translation>
    </message>
    <message>
        <source>Could not keep the coding.</source>
        <translation>No se pudo guardar la codificación.</translation>
    </message>
</context>
<context>
    <name>QtConflictBanner</name>
    <message>
        <source>Keep mine</source>
        <translation>Conservar la mía</translation>
    </message>
    <message>
        <source>Send this console&apos;s text; the other version stays in History</source>
        <translation>Enviar el texto de esta consola; la otra versión queda en el Historial</translation>
    </message>
    <message>
        <source>Keep theirs</source>
        <translation>Conservar la otra</translation>
    </message>
    <message>
        <source>Use the text changed elsewhere; your text stays in History</source>
        <translation>Usar el texto cambiado en otro lugar; su texto queda en el Historial</translation>
    </message>
    <message>
        <source>Merge…</source>
        <translation>Combinar…</translation>
    </message>
    <message>
        <source>Compare both texts side by side and combine them</source>
        <translation>Comparar ambos textos lado a lado y combinarlos</translation>
    </message>
</context>
<context>
    <name>QtEconsultQueue</name>
    <message>
        <source>Assigned to me</source>
        <extracomment>Decoded thumbnails, so a redisplay (a message sent) does not decode again.</extracomment>
        <translation>Asignadas a mí</translation>
    </message>
    <message>
        <source>Sent by me</source>
        <translation>Enviadas por mí</translation>
    </message>
    <message>
        <source>No open requests.</source>
        <translation>No hay solicitudes abiertas.</translation>
    </message>
    <message>
        <source>Ask or reply…</source>
        <translation>Pregunte o responda…</translation>
    </message>
    <message>
        <source>Send</source>
        <translation>Enviar</translation>
    </message>
    <message>
        <source>Start review</source>
        <translation>Iniciar revisión</translation>
    </message>
    <message>
        <source>Consult note: assessment and advice</source>
        <translation>Nota de interconsulta: evaluación y recomendaciones</translation>
    </message>
    <message>
        <source>Answer and close</source>
        <translation>Responder y cerrar</translation>
    </message>
    <message>
        <source> min</source>
        <translation> min</translation>
    </message>
    <message>
        <source>Minutes of consultative review, for coding</source>
        <translation>Minutos de revisión de interconsulta, para la codificación</translation>
    </message>
    <message>
        <source>Questions and replies</source>
        <translation>Preguntas y respuestas</translation>
    </message>
    <message>
        <source>Patient of this console</source>
        <translation>Paciente de esta consola</translation>
    </message>
    <message>
        <source>{urgency} · {status}
{who}</source>
        <translation>{urgency} · {status}
{who}</translation>
    </message>
    <message>
        <source>Choose a request.</source>
        <translation>Elija una solicitud.</translation>
    </message>
    <message>
        <source>{patient} · {urgency} · {status}{due}</source>
        <translation>{patient} · {urgency} · {status}{due}</translation>
    </message>
    <message>
        <source> · due {date}</source>
        <translation> · vence el {date}</translation>
    </message>
    <message>
        <source>{author}: {text}</source>
        <translation>{author}: {text}</translation>
    </message>
    <message>
        <source>Answer from {author}:
{text}</source>
        <translation>Respuesta de {author}:
{text}</translation>
    </message>
    <message>
        <source>Loading…</source>
        <translation>Cargando…</translation>
    </message>
    <message>
        <source>Note</source>
        <translation>Nota</translation>
    </message>
    <message>
        <source>Recording</source>
        <translation>Grabación</translation>
    </message>
    <message>
        <source>Not an image</source>
        <translation>No es una imagen</translation>
    </message>
    <message>
        <source>Coding: {reason}</source>
        <translation>Codificación: {reason}</translation>
    </message>
    <message>
        <source>Coding: no code. {reason}</source>
        <translation>Codificación: ningún código. {reason}</translation>
    </message>
</context>
<context>
    <name>QtEncounterRecordings</name>
    <message>
        <source>Aortic</source>
        <translation>Aórtico</translation>
    </message>
    <message>
        <source>Pulmonic</source>
        <translation>Pulmonar</translation>
    </message>
    <message>
        <source>Tricuspid</source>
        <translation>Tricuspídeo</translation>
    </message>
    <message>
        <source>Mitral</source>
        <translation>Mitral</translation>
    </message>
    <message>
        <source>Image</source>
        <translation>Imagen</translation>
    </message>
    <message>
        <source>%1 /min</source>
        <translation>%1 /min</translation>
    </message>
    <message>
        <source>Recordings and images</source>
        <translation>Grabaciones e imágenes</translation>
    </message>
    <message>
        <source>Play</source>
        <translation>Reproducir</translation>
    </message>
    <message>
        <source>Play %1</source>
        <translation>Reproducir %1</translation>
    </message>
</context>
<context>
    <name>QtEncounterStills</name>
    <message>
        <source>Stills of this visit</source>
        <translation>Fotos de esta visita</translation>
    </message>
    <message>
        <source>This visit has no stills.</source>
        <translation>Esta visita no tiene fotos.</translation>
    </message>
    <message>
        <source>Open</source>
        <translation>Abrir</translation>
    </message>
    <message>
        <source>Compare…</source>
        <translation>Comparar…</translation>
    </message>
    <message>
        <source>Still</source>
        <translation>Foto</translation>
    </message>
</context>
<context>
    <name>QtEscalateDialog</name>
    <message>
        <source>Called emergency services</source>
        <translation>Llamó a los servicios de emergencia</translation>
    </message>
    <message>
        <source>Advised the patient to call emergency services</source>
        <translation>Indicó al paciente que llamara a los servicios de emergencia</translation>
    </message>
    <message>
        <source>Called the patient back</source>
        <translation>Devolvió la llamada al paciente</translation>
    </message>
    <message>
        <source>Contacted the emergency contact</source>
        <translation>Se comunicó con el contacto de emergencia</translation>
    </message>
    <message>
        <source>Stayed on the line until help arrived</source>
        <translation>Permaneció en la línea hasta que llegó la ayuda</translation>
    </message>
    <message>
        <source>Escalate</source>
        <translation>Escalar</translation>
    </message>
    <message>
        <source>Looking up the emergency number…</source>
        <translation>Buscando el número de emergencia…</translation>
    </message>
    <message>
        <source>Emergency number</source>
        <translation>Número de emergencia</translation>
    </message>
    <message>
        <source>Emergency plan</source>
        <translation>Plan de emergencia</translation>
    </message>
    <message>
        <source>What was done:</source>
        <translation>Qué se hizo:</translation>
    </message>
    <message>
        <source>What happened (goes into the record)</source>
        <translation>Qué ocurrió (se incluye en la historia clínica)</translation>
    </message>
    <message>
        <source>What happened</source>
        <translation>Qué ocurrió</translation>
    </message>
    <message>
        <source>Outcome</source>
        <translation>Resultado</translation>
    </message>
    <message>
        <source>Record and notify on-call</source>
        <translation>Registrar y avisar a la guardia</translation>
    </message>
    <message>
        <source>Record</source>
        <translation>Registrar</translation>
    </message>
    <message>
        <source>Add to note</source>
        <translation>Agregar a la nota</translation>
    </message>
    <message>
        <source>Close</source>
        <translation>Cerrar</translation>
    </message>
    <message>
        <source>Emergency number: {number} ({where})</source>
        <translation>Número de emergencia: {number} ({where})</translation>
    </message>
    <message>
        <source>No emergency number is known for {where}: ask IT to add it.</source>
        <translation>No se conoce ningún número de emergencia para {where}: pida a TI que lo agregue.</translation>
    </message>
    <message>
        <source>The patient&apos;s location is not known.</source>
        <translation>No se conoce la ubicación del paciente.</translation>
    </message>
    <message>
        <source>No emergency plan was confirmed for this visit.</source>
        <translation>No se confirmó ningún plan de emergencia para esta visita.</translation>
    </message>
    <message>
        <source>Address: {value}</source>
        <translation>Dirección: {value}</translation>
    </message>
    <message>
        <source>Callback: {value}</source>
        <translation>Número para devolver la llamada: {value}</translation>
    </message>
    <message>
        <source>Emergency contact: {name} {number}</source>
        <translation>Contacto de emergencia: {name} {number}</translation>
    </message>
    <message>
        <source>Recording…</source>
        <translation>Registrando…</translation>
    </message>
    <message>
        <source>Recorded at {at}. The on-call contact was notified.</source>
        <translation>Registrado a las {at}. Se avisó al contacto de guardia.</translation>
    </message>
    <message>
        <source>Recorded at {at}. The on-call contact was NOT notified ({why}): call them.</source>
        <translation>Registrado a las {at}. NO se avisó al contacto de guardia ({why}): llámelo.</translation>
    </message>
    <message>
        <source>Recorded at {at}.</source>
        <translation>Registrado a las {at}.</translation>
    </message>
    <message>
        <source>Could not record it.</source>
        <translation>No se pudo registrar.</translation>
    </message>
</context>
<context>
    <name>QtImageCapturePanel</name>
    <message>
        <source>Open camera</source>
        <translation>Abrir cámara</translation>
    </message>
    <message>
        <source>Take still</source>
        <translation>Tomar foto</translation>
    </message>
    <message>
        <source>Retake</source>
        <translation>Repetir</translation>
    </message>
    <message>
        <source>Keep</source>
        <translation>Conservar</translation>
    </message>
    <message>
        <source>Take a picture at the cart</source>
        <translation>Tomar una foto en el carro</translation>
    </message>
    <message>
        <source>(not given)</source>
        <translation>(sin indicar)</translation>
    </message>
    <message>
        <source>Left</source>
        <translation>Izquierdo</translation>
    </message>
    <message>
        <source>Right</source>
        <translation>Derecho</translation>
    </message>
    <message>
        <source>Both sides</source>
        <translation>Ambos lados</translation>
    </message>
    <message>
        <source>Mark two points</source>
        <translation>Marcar dos puntos</translation>
    </message>
    <message>
        <source>distance</source>
        <translation>distancia</translation>
    </message>
    <message>
        <source>Site</source>
        <translation>Zona anatómica</translation>
    </message>
    <message>
        <source>Side</source>
        <translation>Lado</translation>
    </message>
    <message>
        <source>View</source>
        <translation>Vista</translation>
    </message>
    <message>
        <source>Scale</source>
        <translation>Escala</translation>
    </message>
    <message>
        <source>No camera found.</source>
        <translation>No se encontró ninguna cámara.</translation>
    </message>
    <message>
        <source>Opening the camera…</source>
        <translation>Abriendo la cámara…</translation>
    </message>
    <message>
        <source>Waiting for the camera…</source>
        <translation>Esperando la cámara…</translation>
    </message>
    <message>
        <source>Taking a full-resolution still…</source>
        <translation>Tomando una foto en resolución completa…</translation>
    </message>
    <message>
        <source>Still: {w} × {h} pixels</source>
        <translation>Foto: {w} × {h} píxeles</translation>
    </message>
    <message>
        <source>Sharp and well exposed.</source>
        <translation>Nítida y bien expuesta.</translation>
    </message>
    <message>
        <source>Blurred: hold the camera still, let it focus, retake.</source>
        <translation>Borrosa: mantenga la cámara quieta, deje que enfoque y repítala.</translation>
    </message>
    <message>
        <source>Too bright: highlights are lost; dim the light.</source>
        <translation>Demasiado clara: se pierden las zonas brillantes; baje la luz.</translation>
    </message>
    <message>
        <source>Too dark: add light or move closer.</source>
        <translation>Demasiado oscura: agregue luz o acérquese.</translation>
    </message>
    <message>
        <source>Too small to be useful to a specialist.</source>
        <translation>Demasiado pequeña para que le sirva a un especialista.</translation>
    </message>
    <message>
        <source>Kept with the encounter.</source>
        <translation>Guardada con la consulta.</translation>
    </message>
    <message>
        <source>Asking the cart for a picture…</source>
        <translation>Pidiendo una foto al carro…</translation>
    </message>
    <message>
        <source>Picture from the cart: {w} × {h} pixels, kept with the encounter.</source>
        <translation>Foto del carro: {w} × {h} píxeles, guardada con la consulta.</translation>
    </message>
    <message>
        <source>{n} of 2 points marked</source>
        <translation>{n} de 2 puntos marcados</translation>
    </message>
    <message>
        <source>{v:.4g} mm per pixel</source>
        <translation>{v:.4g} mm por píxel</translation>
    </message>
    <message>
        <source>Keep anyway</source>
        <translation>Conservar de todos modos</translation>
    </message>
</context>
<context>
    <name>QtImageView</name>
    <message>
        <source>Label</source>
        <translation>Etiqueta</translation>
    </message>
    <message>
        <source>Text of the label:</source>
        <translation>Texto de la etiqueta:</translation>
    </message>
</context>
<context>
    <name>QtInvitePanel</name>
    <message>
        <source>Invite the patient</source>
        <translation>Invitar al paciente</translation>
    </message>
    <message>
        <source>Send this link to the patient, or let them scan the code. It contains the room PIN: share it only with them.</source>
        <translation>Envíe este enlace al paciente o deje que escanee el código. Contiene el PIN de la sala: compártalo solo con el paciente.</translation>
    </message>
    <message>
        <source>Invite link for the patient</source>
        <translation>Enlace de invitación para el paciente</translation>
    </message>
    <message>
        <source>Copy link</source>
        <translation>Copiar enlace</translation>
    </message>
    <message>
        <source>Copy the invite link to the clipboard</source>
        <translation>Copiar el enlace de invitación al portapapeles</translation>
    </message>
    <message>
        <source>Copied</source>
        <translation>Copiado</translation>
    </message>
    <message>
        <source>Scan with a phone camera to open the visit</source>
        <translation>Escanee con la cámara de un teléfono para abrir la visita</translation>
    </message>
</context>
<context>
    <name>QtJoinDialog</name>
    <message>
        <source>Join a visit</source>
        <translation>Unirse a una visita</translation>
    </message>
    <message>
        <source>Paste the invite link from the host&apos;s console, or enter the media server, room and PIN they gave you.</source>
        <translation>Pegue el enlace de invitación de la consola anfitriona, o escriba el servidor de video, la sala y el PIN que le dieron.</translation>
    </message>
    <message>
        <source>https://…/patient/#server=…&amp;room=…&amp;pin=…</source>
        <translation>https://…/patient/#server=…&amp;room=…&amp;pin=…</translation>
    </message>
    <message>
        <source>wss://media.example.org/janus</source>
        <translation>wss://media.example.org/janus</translation>
    </message>
    <message>
        <source>e.g. Dr Okafor, cardiology</source>
        <translation>p. ej., Dra. Okafor, cardiología</translation>
    </message>
    <message>
        <source>Invite &amp;link</source>
        <translation>&amp;Enlace de invitación</translation>
    </message>
    <message>
        <source>Video &amp;server</source>
        <translation>&amp;Servidor de video</translation>
    </message>
    <message>
        <source>&amp;Room</source>
        <translation>Sa&amp;la</translation>
    </message>
    <message>
        <source>&amp;PIN</source>
        <translation>&amp;PIN</translation>
    </message>
    <message>
        <source>Your &amp;name as others see it</source>
        <translation>Su &amp;nombre tal como lo ven los demás</translation>
    </message>
    <message>
        <source>Invite link</source>
        <translation>Enlace de invitación</translation>
    </message>
    <message>
        <source>Video server</source>
        <translation>Servidor de video</translation>
    </message>
    <message>
        <source>Room</source>
        <translation>Sala</translation>
    </message>
    <message>
        <source>PIN</source>
        <translation>PIN</translation>
    </message>
    <message>
        <source>Your name as others see it</source>
        <translation>Su nombre tal como lo ven los demás</translation>
    </message>
    <message>
        <source>&amp;Join</source>
        <translation>&amp;Unirse</translation>
    </message>
    <message>
        <source>The visit could not be joined. Check the network, then retry.</source>
        <translation>No se pudo unir a la visita. Revise la red y vuelva a intentarlo.</translation>
    </message>
    <message>
        <source>&amp;Retry</source>
        <translation>&amp;Reintentar</translation>
    </message>
</context>
<context>
    <name>QtLicensureDialog</name>
    <message>
        <source>Licensure warning</source>
        <translation>Advertencia de licencia</translation>
    </message>
    <message>
        <source>You may not be licensed where this patient is ({where}).</source>
        <translation>Es posible que usted no tenga licencia donde está este paciente ({where}).</translation>
    </message>
    <message>
        <source>none configured</source>
        <translation>ninguna configurada</translation>
    </message>
    <message>
        <source>Your licences: {licensed}.
{reason}.

Check the patient&apos;s location. If you go ahead, your decision is recorded in the audit log.</source>
        <translation>Sus licencias: {licensed}.
{reason}.

Verifique la ubicación del paciente. Si continúa, su decisión queda anotada en el registro de auditoría.</translation>
    </message>
    <message>
        <source>Licensure details</source>
        <translation>Detalles de la licencia</translation>
    </message>
    <message>
        <source>Proceed anyway</source>
        <translation>Continuar de todos modos</translation>
    </message>
    <message>
        <source>Do not start</source>
        <translation>No iniciar</translation>
    </message>
    <message>
        <source>Do not start the visit</source>
        <translation>No iniciar la visita</translation>
    </message>
    <message>
        <source>The decision could not be recorded.</source>
        <translation>No se pudo registrar la decisión.</translation>
    </message>
</context>
<context>
    <name>QtMainWindow</name>
    <message numerus="yes">
        <source>The console locked itself after %n minutes without input.</source>
        <translation>
            <numerusform>La consola se bloqueó tras %n minuto sin actividad.</numerusform>
            <numerusform>La consola se bloqueó tras %n minutos sin actividad.</numerusform>
        </translation>
    </message>
    <message>
        <source>Clinician Console</source>
        <translation>Clinician Console</translation>
    </message>
    <message>
        <source>In a video visit</source>
        <translation>En una videoconsulta</translation>
    </message>
    <message>
        <source>Show visit</source>
        <translation>Mostrar visita</translation>
    </message>
    <message>
        <source>&amp;File</source>
        <translation>&amp;Archivo</translation>
    </message>
    <message>
        <source>Sync &amp;now</source>
        <translation>Sincronizar &amp;ahora</translation>
    </message>
    <message>
        <source>Send and fetch changes with the record store now (Ctrl+Shift+S)</source>
        <translation>Enviar y recibir cambios con el servidor de historias ahora (Ctrl+Shift+S)</translation>
    </message>
    <message>
        <source>&amp;Lock now</source>
        <translation>&amp;Bloquear ahora</translation>
    </message>
    <message>
        <source>S&amp;witch clinician</source>
        <translation>Cambiar de &amp;profesional</translation>
    </message>
    <message>
        <source>&amp;Settings…</source>
        <translation>&amp;Configuración…</translation>
    </message>
    <message>
        <source>&amp;Add-ons…</source>
        <translation>Co&amp;mplementos…</translation>
    </message>
    <message>
        <source>&amp;Quit</source>
        <translation>&amp;Salir</translation>
    </message>
    <message>
        <source>&amp;Note</source>
        <translation>&amp;Nota</translation>
    </message>
    <message>
        <source>&amp;History…</source>
        <translation>&amp;Historial…</translation>
    </message>
    <message>
        <source>&amp;Find in notes</source>
        <translation>&amp;Buscar en las notas</translation>
    </message>
    <message>
        <source>&amp;Visit</source>
        <translation>&amp;Visita</translation>
    </message>
    <message>
        <source>Start &amp;video visit</source>
        <translation>Iniciar &amp;videoconsulta</translation>
    </message>
    <message>
        <source>Open a video visit for the selected encounter (Ctrl+Shift+V)</source>
        <translation>Abrir una videoconsulta para la consulta seleccionada (Ctrl+Shift+V)</translation>
    </message>
    <message>
        <source>Start &amp;demo visit</source>
        <translation>Iniciar visita de &amp;demostración</translation>
    </message>
    <message>
        <source>Try the visit window with a simulated patient on this computer (Ctrl+Shift+V)</source>
        <translation>Pruebe la ventana de visita con un paciente simulado en este equipo (Ctrl+Shift+V)</translation>
    </message>
    <message>
        <source>&amp;Join a visit…</source>
        <translation>&amp;Unirse a una visita…</translation>
    </message>
    <message>
        <source>Join a visit another console started, with its invite link or room and PIN</source>
        <translation>Unirse a una visita iniciada en otra consola, con su enlace de invitación o sala y PIN</translation>
    </message>
    <message>
        <source>&amp;Tech check…</source>
        <translation>&amp;Prueba técnica…</translation>
    </message>
    <message>
        <source>Check the camera, microphone, speaker and network before a visit</source>
        <translation>Revisar la cámara, el micrófono, el altavoz y la red antes de una visita</translation>
    </message>
    <message>
        <source>&amp;Help</source>
        <translation>A&amp;yuda</translation>
    </message>
    <message>
        <source>&amp;About Clinician Console</source>
        <translation>&amp;Acerca de Clinician Console</translation>
    </message>
    <message>
        <source>Settings saved. The console speaks the new language in windows opened from now on, and everywhere the next time it starts.</source>
        <translation>Configuración guardada. La consola usa el nuevo idioma en las ventanas que se abran desde ahora, y en todas la próxima vez que se inicie.</translation>
    </message>
    <message>
        <source>Settings saved. Some take effect the next time the console starts.</source>
        <translation>Configuración guardada. Algunos cambios se aplican la próxima vez que se inicie la consola.</translation>
    </message>
    <message>
        <source>The note is open beside the video in the visit window.</source>
        <translation>La nota está abierta junto al video en la ventana de la visita.</translation>
    </message>
    <message>
        <source>Clinician Console — {name}</source>
        <translation>Clinician Console — {name}</translation>
    </message>
</context>
<context>
    <name>QtMergeDialog</name>
    <message>
        <source>Merge the two versions</source>
        <translation>Combinar las dos versiones</translation>
    </message>
    <message>
        <source>Edit the text on the right until it says what the note should say, then save. The other version is on the left for reference.</source>
        <translation>Edite el texto de la derecha hasta que diga lo que la nota debe decir y luego guarde. La otra versión está a la izquierda como referencia.</translation>
    </message>
    <message>
        <source>Save merged note</source>
        <translation>Guardar nota combinada</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>Cancelar</translation>
    </message>
</context>
<context>
    <name>QtNoteEditor</name>
    <message>
        <source>Subjective</source>
        <translation>Subjetivo</translation>
    </message>
    <message>
        <source>Objective</source>
        <translation>Objetivo</translation>
    </message>
    <message>
        <source>Assessment</source>
        <translation>Evaluación</translation>
    </message>
    <message>
        <source>Plan</source>
        <translation>Plan</translation>
    </message>
    <message>
        <source>Progress note</source>
        <translation>Nota de evolución</translation>
    </message>
    <message>
        <source>Consult note</source>
        <translation>Nota de interconsulta</translation>
    </message>
    <message>
        <source>Draft</source>
        <translation>Borrador</translation>
    </message>
    <message>
        <source>Signed</source>
        <translation>Firmada</translation>
    </message>
    <message>
        <source>Final</source>
        <translation>Definitiva</translation>
    </message>
    <message>
        <source>History…</source>
        <translation>Historial…</translation>
    </message>
    <message>
        <source>Start video visit</source>
        <translation>Iniciar videoconsulta</translation>
    </message>
    <message>
        <source>Start a video visit for this encounter</source>
        <translation>Iniciar una videoconsulta para esta consulta</translation>
    </message>
    <message>
        <source>Copy invite link</source>
        <translation>Copiar enlace de invitación</translation>
    </message>
    <message>
        <source>Copy the link the patient opens to join</source>
        <translation>Copiar el enlace que abre el paciente para unirse</translation>
    </message>
    <message>
        <source>Born %1 (%2)</source>
        <translation>Nacimiento %1 (%2)</translation>
    </message>
    <message>
        <source>MRN %1</source>
        <translation>N.º de historia %1</translation>
    </message>
    <message>
        <source>New note · saved when you start typing</source>
        <translation>Nota nueva · se guarda al empezar a escribir</translation>
    </message>
    <message>
        <source>%1 · %2 · version %3</source>
        <translation>%1 · %2 · versión %3</translation>
    </message>
    <message>
        <source>Show video visit</source>
        <translation>Mostrar videoconsulta</translation>
    </message>
    <message>
        <source>Link copied</source>
        <translation>Enlace copiado</translation>
    </message>
</context>
<context>
    <name>QtNoteHistory</name>
    <message>
        <source>Note history</source>
        <translation>Historial de la nota</translation>
    </message>
    <message>
        <source>Changes in this version</source>
        <translation>Cambios en esta versión</translation>
    </message>
    <message>
        <source>Changes</source>
        <translation>Cambios</translation>
    </message>
    <message>
        <source>Full text</source>
        <translation>Texto completo</translation>
    </message>
    <message>
        <source>Restore this version</source>
        <translation>Restaurar esta versión</translation>
    </message>
    <message>
        <source>Close</source>
        <translation>Cerrar</translation>
    </message>
    <message>
        <source>Version %1</source>
        <translation>Versión %1</translation>
    </message>
    <message>
        <source>current</source>
        <translation>actual</translation>
    </message>
    <message>
        <source>1 version</source>
        <translation>1 versión</translation>
    </message>
    <message>
        <source>%1 versions</source>
        <translation>%1 versiones</translation>
    </message>
    <message>
        <source>This note has no saved versions yet.</source>
        <translation>Esta nota aún no tiene versiones guardadas.</translation>
    </message>
    <message>
        <source>Version {version} restored as version {new}.</source>
        <translation>La versión {version} se restauró como versión {new}.</translation>
    </message>
</context>
<context>
    <name>QtNoticeBar</name>
    <message>
        <source>Dismiss</source>
        <translation>Descartar</translation>
    </message>
</context>
<context>
    <name>QtPassphraseForm</name>
    <message>
        <source>Passphrase</source>
        <translation>Frase de contraseña</translation>
    </message>
    <message>
        <source>Repeat the passphrase</source>
        <translation>Repita la frase de contraseña</translation>
    </message>
    <message>
        <source>Unlock</source>
        <translation>Desbloquear</translation>
    </message>
    <message>
        <source>Quit</source>
        <translation>Salir</translation>
    </message>
    <message>
        <source>PIN</source>
        <translation>PIN</translation>
    </message>
    <message>
        <source>Repeat the PIN</source>
        <translation>Repita el PIN</translation>
    </message>
    <message>
        <source>Enter the PIN.</source>
        <translation>Escriba el PIN.</translation>
    </message>
    <message>
        <source>Enter the passphrase.</source>
        <translation>Escriba la frase de contraseña.</translation>
    </message>
    <message>
        <source>The two PINs differ.</source>
        <translation>Los dos PIN no coinciden.</translation>
    </message>
    <message>
        <source>The two passphrases differ.</source>
        <translation>Las dos frases de contraseña no coinciden.</translation>
    </message>
</context>
<context>
    <name>QtPatientLocationDialog</name>
    <message>
        <source>Where the patient is</source>
        <translation>Dónde está el paciente</translation>
    </message>
    <message>
        <source>Recorded at the start of the visit: {place}</source>
        <translation>Registrado al inicio de la consulta: {place}</translation>
    </message>
    <message>
        <source>Where the patient is now (country-region):</source>
        <translation>Dónde está el paciente ahora (país-región):</translation>
    </message>
    <message>
        <source>At home</source>
        <translation>En su domicilio</translation>
    </message>
    <message>
        <source>At a clinic or facility</source>
        <translation>En una clínica o centro</translation>
    </message>
    <message>
        <source>Setting:</source>
        <translation>Entorno:</translation>
    </message>
    <message>
        <source>Record this location</source>
        <translation>Registrar esta ubicación</translation>
    </message>
    <message>
        <source>Keep what was recorded</source>
        <translation>Mantener lo registrado</translation>
    </message>
    <message>
        <source>Enter where the patient is, e.g. US-WA.</source>
        <translation>Indique dónde está el paciente, p. ej., US-WA.</translation>
    </message>
    <message>
        <source>Ask whether the patient is at home or at a facility.</source>
        <translation>Pregunte si el paciente está en su domicilio o en un centro.</translation>
    </message>
</context>
<context>
    <name>QtPluginArea</name>
    <message>
        <source>Stethoscope</source>
        <translation>Estetoscopio</translation>
    </message>
</context>
<context>
    <name>QtPluginsDialog</name>
    <message>
        <source>Add-ons</source>
        <translation>Complementos</translation>
    </message>
    <message>
        <source>Add-ons bring devices and tools to the console, such as the stethoscope. Your organisation decides which may load.</source>
        <translation>Los complementos añaden dispositivos y herramientas a la consola, como el estetoscopio. Su organización decide cuáles pueden cargarse.</translation>
    </message>
    <message>
        <source>No plugins are installed.</source>
        <translation>No hay complementos instalados.</translation>
    </message>
</context>
<context>
    <name>QtQualityBadge</name>
    <message>
        <source>Call quality, from round-trip time, packet loss and frame rate. Click for the details</source>
        <translation>Calidad de la llamada, según el tiempo de ida y vuelta, la pérdida de paquetes y la tasa de imágenes. Haga clic para ver los detalles</translation>
    </message>
</context>
<context>
    <name>QtSafetyPlanDialog</name>
    <message>
        <source>Emergency plan</source>
        <translation>Plan de emergencia</translation>
    </message>
    <message>
        <source>Confirm with the patient where they are now, a number to call them back on, and who to contact in an emergency.</source>
        <translation>Confirme con el paciente dónde está ahora, un número para devolverle la llamada y a quién contactar en caso de emergencia.</translation>
    </message>
    <message>
        <source>Problem</source>
        <translation>Problema</translation>
    </message>
    <message>
        <source>Confirm</source>
        <translation>Confirmar</translation>
    </message>
    <message>
        <source>Later</source>
        <translation>Más tarde</translation>
    </message>
    <message>
        <source>Could not save the plan.</source>
        <translation>No se pudo guardar el plan.</translation>
    </message>
</context>
<context>
    <name>QtSafetyPlanForm</name>
    <message>
        <source>Patient&apos;s location (ISO code, e.g. US-WA)</source>
        <translation>Ubicación del paciente (código ISO, p. ej., US-WA)</translation>
    </message>
    <message>
        <source>Physical address where the patient is now</source>
        <translation>Dirección física donde está el paciente ahora</translation>
    </message>
    <message>
        <source>Callback number</source>
        <translation>Número para devolver la llamada</translation>
    </message>
    <message>
        <source>Emergency contact name</source>
        <translation>Nombre del contacto de emergencia</translation>
    </message>
    <message>
        <source>Emergency contact number</source>
        <translation>Número del contacto de emergencia</translation>
    </message>
    <message>
        <source>Location</source>
        <translation>Ubicación</translation>
    </message>
    <message>
        <source>Address</source>
        <translation>Dirección</translation>
    </message>
    <message>
        <source>Emergency contact</source>
        <translation>Contacto de emergencia</translation>
    </message>
    <message>
        <source>Contact&apos;s number</source>
        <translation>Número del contacto</translation>
    </message>
</context>
<context>
    <name>QtSearchPanel</name>
    <message>
        <source>No patients or notes match “%1”.
Try fewer or different words.</source>
        <translation>Ningún paciente ni nota coincide con “%1”.
Pruebe con menos palabras o con otras.</translation>
    </message>
    <message>
        <source>Patient</source>
        <translation>Paciente</translation>
    </message>
    <message>
        <source>edited %1</source>
        <translation>editada %1</translation>
    </message>
    <message>
        <source>Search patients and notes…</source>
        <translation>Buscar pacientes y notas…</translation>
    </message>
    <message>
        <source>Search patients and notes</source>
        <translation>Buscar pacientes y notas</translation>
    </message>
</context>
<context>
    <name>QtSelfView</name>
    <message>
        <source>Your camera. Drag to move it.</source>
        <extracomment>``observer(view, frame)``: called at the end of each paint that drew ``frame`` (the object ``visit.latest_frame`` returned); ``view.video_rect`` is where it was drawn.</extracomment>
        <translation>Su cámara. Arrástrela para moverla.</translation>
    </message>
</context>
<context>
    <name>QtSettingsDialog</name>
    <message>
        <source>set by your organisation</source>
        <translation>definido por su organización</translation>
    </message>
    <message>
        <source>Record server (FHIR)</source>
        <translation>Servidor de historias (FHIR)</translation>
    </message>
    <message>
        <source>Video server</source>
        <translation>Servidor de video</translation>
    </message>
    <message>
        <source>Automatic lock</source>
        <translation>Bloqueo automático</translation>
    </message>
    <message>
        <source>Add-ons</source>
        <translation>Complementos</translation>
    </message>
    <message>
        <source>Records on this computer</source>
        <translation>Historias en este equipo</translation>
    </message>
    <message>
        <source>Updates</source>
        <translation>Actualizaciones</translation>
    </message>
    <message>
        <source>Demo patients</source>
        <translation>Pacientes de demostración</translation>
    </message>
    <message>
        <source>Display</source>
        <translation>Pantalla</translation>
    </message>
    <message>
        <source>Devices</source>
        <translation>Dispositivos</translation>
    </message>
    <message>
        <source>Clinician</source>
        <translation>Profesional</translation>
    </message>
    <message>
        <source>Coding suggestions</source>
        <translation>Sugerencias de codificación</translation>
    </message>
    <message>
        <source>Emergency</source>
        <translation>Emergencia</translation>
    </message>
    <message>
        <source>Sign-in</source>
        <translation>Inicio de sesión</translation>
    </message>
    <message>
        <source>Notes</source>
        <translation>Notas</translation>
    </message>
    <message>
        <source>PACS (DICOM)</source>
        <translation>PACS (DICOM)</translation>
    </message>
    <message>
        <source>Small</source>
        <translation>Pequeño</translation>
    </message>
    <message>
        <source>Normal</source>
        <translation>Normal</translation>
    </message>
    <message>
        <source>Large</source>
        <translation>Grande</translation>
    </message>
    <message>
        <source>Larger</source>
        <translation>Más grande</translation>
    </message>
    <message>
        <source>Working: this is what the camera sees.</source>
        <translation>Funciona: esto es lo que ve la cámara.</translation>
    </message>
    <message>
        <source>Working: sound is coming in. Speak and watch the bar move.</source>
        <translation>Funciona: llega sonido. Hable y mire cómo se mueve la barra.</translation>
    </message>
    <message>
        <source>Working: a tone was played. If you did not hear it, check the volume and that the right speaker is chosen.</source>
        <translation>Funciona: se reprodujo un tono. Si no lo oyó, revise el volumen y que esté elegido el altavoz correcto.</translation>
    </message>
    <message>
        <source>Working: sound is coming in from the stethoscope input. Tap the chest piece and watch the bar move.</source>
        <translation>Funciona: llega sonido desde la entrada del estetoscopio. Dé unos toques en la campana y mire cómo se mueve la barra.</translation>
    </message>
    <message>
        <source>Not found: this device is not connected. Plug it in, or choose another one.</source>
        <translation>No se encuentra: este dispositivo no está conectado. Conéctelo o elija otro.</translation>
    </message>
    <message>
        <source>It could not be started: another program may be using it, or it does not work with this computer.</source>
        <translation>No se pudo iniciar: puede que otro programa lo esté usando o que no funcione con este equipo.</translation>
    </message>
    <message>
        <source>It stopped working during the test. Check that it is still plugged in.</source>
        <translation>Dejó de funcionar durante la prueba. Compruebe que sigue conectado.</translation>
    </message>
    <message>
        <source>The computer&apos;s sound system is not available. Ask IT to check it.</source>
        <translation>El sistema de sonido del equipo no está disponible. Pida a informática que lo revise.</translation>
    </message>
    <message>
        <source>No camera is connected: this is the test picture.</source>
        <translation>No hay ninguna cámara conectada: esta es la imagen de prueba.</translation>
    </message>
    <message>
        <source>No picture came from the camera. Check that it is plugged in and its lens is uncovered.</source>
        <translation>La cámara no envió imagen. Compruebe que está conectada y que la lente no está tapada.</translation>
    </message>
    <message>
        <source>No sound came in. Check that it is plugged in and not muted.</source>
        <translation>No llegó sonido. Compruebe que está conectado y que no está silenciado.</translation>
    </message>
    <message>
        <source>The test could not run. Details were written to the log.</source>
        <translation>No se pudo hacer la prueba. Los detalles quedaron en el registro.</translation>
    </message>
    <message>
        <source>Devices cannot be tested here.</source>
        <translation>Aquí no se pueden probar los dispositivos.</translation>
    </message>
    <message>
        <source>Text size</source>
        <translation>Tamaño del texto</translation>
    </message>
    <message>
        <source>Language</source>
        <translation>Idioma</translation>
    </message>
    <message>
        <source>Camera</source>
        <translation>Cámara</translation>
    </message>
    <message>
        <source>Microphone</source>
        <translation>Micrófono</translation>
    </message>
    <message>
        <source>Speaker</source>
        <translation>Altavoz</translation>
    </message>
    <message>
        <source>Stethoscope input</source>
        <translation>Entrada del estetoscopio</translation>
    </message>
    <message>
        <source>Lock after (minutes without use)</source>
        <translation>Bloquear tras (minutos sin uso)</translation>
    </message>
    <message>
        <source>System default</source>
        <translation>Predeterminado del sistema</translation>
    </message>
    <message>
        <source>Test</source>
        <translation>Probar</translation>
    </message>
    <message>
        <source>Test %1</source>
        <translation>Probar %1</translation>
    </message>
    <message>
        <source>Sound level</source>
        <translation>Nivel de sonido</translation>
    </message>
    <message>
        <source>Settings</source>
        <translation>Configuración</translation>
    </message>
    <message>
        <source>Settings marked “%1” come from your organisation and cannot be changed here. Some take effect the next time the console starts.</source>
        <translation>Los ajustes marcados “%1” vienen de su organización y no se pueden cambiar aquí. Algunos cambios se aplican la próxima vez que se inicie la consola.</translation>
    </message>
    <message>
        <source>Advanced settings for IT</source>
        <translation>Configuración avanzada para TI</translation>
    </message>
    <message>
        <source>Save</source>
        <translation>Guardar</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>Cancelar</translation>
    </message>
    <message>
        <source>Full tech check…</source>
        <translation>Comprobación técnica completa…</translation>
    </message>
    <message>
        <source>Test the camera, microphone and speaker and the connection to the video server</source>
        <translation>Probar la cámara, el micrófono y el altavoz, y la conexión con el servidor de vídeo</translation>
    </message>
    <message>
        <source>Check now</source>
        <translation>Comprobar ahora</translation>
    </message>
    <message>
        <source>Testing…</source>
        <translation>Probando…</translation>
    </message>
    <message>
        <source>Stop</source>
        <translation>Detener</translation>
    </message>
    <message>
        <source>Test stopped.</source>
        <translation>Prueba detenida.</translation>
    </message>
    <message>
        <source>Cannot check: {error}</source>
        <translation>No se puede comprobar: {error}</translation>
    </message>
    <message>
        <source>Checking…</source>
        <translation>Comprobando…</translation>
    </message>
    <message>
        <source>Not checked: {reason}.</source>
        <translation>No se comprobó: {reason}.</translation>
    </message>
    <message>
        <source>Version {version} is available on the {channel} channel (this is {current}); its signatures verified.</source>
        <translation>La versión {version} está disponible en el canal {channel} (esta es la {current}); sus firmas se verificaron.</translation>
    </message>
    <message>
        <source>Up to date ({current}).</source>
        <translation>Actualizada ({current}).</translation>
    </message>
    <message>
        <source>Check failed.</source>
        <translation>La comprobación falló.</translation>
    </message>
    <message>
        <source>Set by your organisation&apos;s managed policy ({where})</source>
        <translation>Definido por la política administrada de su organización ({where})</translation>
    </message>
</context>
<context>
    <name>QtSignBar</name>
    <message>
        <source>Sign note</source>
        <translation>Firmar nota</translation>
    </message>
    <message>
        <source>Add addendum…</source>
        <translation>Agregar adenda…</translation>
    </message>
    <message>
        <source>Add addendum</source>
        <translation>Agregar adenda</translation>
    </message>
    <message>
        <source>Signed addenda</source>
        <translation>Adendas firmadas</translation>
    </message>
    <message>
        <source>Note signature</source>
        <translation>Firma de la nota</translation>
    </message>
    <message>
        <source>Draft — not signed yet.</source>
        <translation>Borrador — aún sin firmar.</translation>
    </message>
    <message>
        <source>Imported as signed by {signer} on {when}, but the signature does NOT match this text: do not rely on it. The note can no longer be changed.</source>
        <translation>Importada como firmada por {signer} el {when}, pero la firma NO coincide con este texto: no confíe en ella. La nota ya no se puede modificar.</translation>
    </message>
    <message>
        <source>Signed by {signer} on {when}. The note can no longer be changed.</source>
        <translation>Firmada por {signer} ({when}). La nota ya no se puede modificar.</translation>
    </message>
    <message>
        <source>It was changed on the record store after signing: answer with an addendum.</source>
        <translation>Se cambió en el servidor de historias después de la firma: responda con una adenda.</translation>
    </message>
    <message>
        <source>Addendum by {signer}, {when}</source>
        <translation>Adenda de {signer}, {when}</translation>
    </message>
    <message>
        <source>(imported; its signature does NOT match its text)</source>
        <translation>(importada; su firma NO coincide con su texto)</translation>
    </message>
</context>
<context>
    <name>QtSignInCard</name>
    <message>
        <source>Sign-in failed unexpectedly. Try again.</source>
        <translation>El inicio de sesión falló de forma inesperada. Vuelva a intentarlo.</translation>
    </message>
    <message>
        <source>Clinician sign-in</source>
        <translation>Inicio de sesión del profesional</translation>
    </message>
    <message>
        <source>Quit</source>
        <translation>Salir</translation>
    </message>
    <message>
        <source>Sign in with your organisation</source>
        <translation>Iniciar sesión con su organización</translation>
    </message>
    <message>
        <source>Sign in offline…</source>
        <translation>Iniciar sesión sin conexión…</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>Cancelar</translation>
    </message>
    <message>
        <source>Your user name</source>
        <translation>Su nombre de usuario</translation>
    </message>
    <message>
        <source>User name</source>
        <translation>Nombre de usuario</translation>
    </message>
    <message>
        <source>Your offline PIN</source>
        <translation>Su PIN sin conexión</translation>
    </message>
    <message>
        <source>Offline PIN</source>
        <translation>PIN sin conexión</translation>
    </message>
    <message>
        <source>Sign in offline</source>
        <translation>Iniciar sesión sin conexión</translation>
    </message>
    <message>
        <source>Back</source>
        <translation>Atrás</translation>
    </message>
    <message>
        <source>Offline PIN (at least 6 digits)</source>
        <translation>PIN sin conexión (al menos 6 dígitos)</translation>
    </message>
    <message>
        <source>New offline PIN</source>
        <translation>Nuevo PIN sin conexión</translation>
    </message>
    <message>
        <source>Repeat the PIN</source>
        <translation>Repita el PIN</translation>
    </message>
    <message>
        <source>Repeat the offline PIN</source>
        <translation>Repita el PIN sin conexión</translation>
    </message>
    <message>
        <source>Set offline PIN</source>
        <translation>Definir PIN sin conexión</translation>
    </message>
    <message>
        <source>Not now</source>
        <translation>Ahora no</translation>
    </message>
    <message>
        <source>Sign in</source>
        <translation>Iniciar sesión</translation>
    </message>
    <message>
        <source>Sign in with your organisation&apos;s account. Your web browser opens for it.</source>
        <translation>Inicie sesión con la cuenta de su organización. Para ello se abre su navegador web.</translation>
    </message>
    <message>
        <source>Finish signing in in your browser</source>
        <translation>Termine de iniciar sesión en su navegador</translation>
    </message>
    <message>
        <source>The console continues as soon as the browser has signed you in.</source>
        <translation>La consola continúa en cuanto el navegador haya iniciado su sesión.</translation>
    </message>
    <message>
        <source>While the sign-in service cannot be reached, enter your user name and the offline PIN you chose on this computer.</source>
        <translation>Mientras no se pueda conectar con el servicio de inicio de sesión, escriba su nombre de usuario y el PIN sin conexión que eligió en esta computadora.</translation>
    </message>
    <message>
        <source>Choose your offline PIN</source>
        <translation>Elija su PIN sin conexión</translation>
    </message>
    <message>
        <source>With it you can open this console when the network is down, for a limited time after signing in online. It is yours alone: do not share it.</source>
        <translation>Con él puede abrir esta consola cuando la red no funcione, durante un tiempo limitado después de iniciar sesión en línea. Es solo suyo: no lo comparta.</translation>
    </message>
    <message>
        <source>Enter your user name and your offline PIN.</source>
        <translation>Escriba su nombre de usuario y su PIN sin conexión.</translation>
    </message>
    <message>
        <source>The two PINs differ.</source>
        <translation>Los dos PIN no coinciden.</translation>
    </message>
</context>
<context>
    <name>QtStartupView</name>
    <message>
        <source>What to do</source>
        <translation>Qué hacer</translation>
    </message>
    <message>
        <source>Quit</source>
        <translation>Salir</translation>
    </message>
</context>
<context>
    <name>QtStethoscopePanel</name>
    <message>
        <source>Bell (20-200 Hz)</source>
        <translation>Campana (20-200 Hz)</translation>
    </message>
    <message>
        <source>Diaphragm (100-500 Hz)</source>
        <translation>Diafragma (100-500 Hz)</translation>
    </message>
    <message>
        <source>Lung (100-1500 Hz)</source>
        <translation>Pulmón (100-1500 Hz)</translation>
    </message>
    <message>
        <source>Wide (20-2000 Hz)</source>
        <translation>Amplio (20-2000 Hz)</translation>
    </message>
    <message>
        <source>Aortic</source>
        <translation>Aórtico</translation>
    </message>
    <message>
        <source>Pulmonic</source>
        <translation>Pulmonar</translation>
    </message>
    <message>
        <source>Tricuspid</source>
        <translation>Tricuspídeo</translation>
    </message>
    <message>
        <source>Mitral</source>
        <translation>Mitral</translation>
    </message>
    <message>
        <source>Lung</source>
        <translation>Pulmón</translation>
    </message>
    <message>
        <source>Left lung</source>
        <translation>Pulmón izquierdo</translation>
    </message>
    <message>
        <source>Right lung</source>
        <translation>Pulmón derecho</translation>
    </message>
    <message>
        <source>Left upper lung</source>
        <translation>Lóbulo superior izquierdo</translation>
    </message>
    <message>
        <source>Left lower lung</source>
        <translation>Lóbulo inferior izquierdo</translation>
    </message>
    <message>
        <source>Right upper lung</source>
        <translation>Lóbulo superior derecho</translation>
    </message>
    <message>
        <source>Right middle lung</source>
        <translation>Lóbulo medio derecho</translation>
    </message>
    <message>
        <source>Right lower lung</source>
        <translation>Lóbulo inferior derecho</translation>
    </message>
    <message>
        <source>Other</source>
        <translation>Otro</translation>
    </message>
    <message>
        <source>high</source>
        <translation>alta</translation>
    </message>
    <message>
        <source>medium</source>
        <translation>media</translation>
    </message>
    <message>
        <source>low</source>
        <translation>baja</translation>
    </message>
    <message>
        <source>The stethoscope stopped delivering sound (unplugged?).</source>
        <translation>El estetoscopio dejó de enviar sonido (¿desconectado?).</translation>
    </message>
    <message>
        <source>Playback is not available: check that a speaker or headset is connected.</source>
        <translation>No se puede reproducir: compruebe que haya un altavoz o unos auriculares conectados.</translation>
    </message>
    <message>
        <source>The stethoscope could not do that. Details were written to the log.</source>
        <translation>El estetoscopio no pudo hacerlo. Los detalles quedaron en el registro.</translation>
    </message>
    <message>
        <source>The stethoscope input chosen in Settings is not connected: the default input is selected instead.</source>
        <translation>La entrada del estetoscopio elegida en Configuración no está conectada: en su lugar se ha seleccionado la entrada predeterminada.</translation>
    </message>
    <message>
        <source>The stethoscope input chosen in Settings is not connected, and no other input is.</source>
        <translation>La entrada del estetoscopio elegida en Configuración no está conectada, y no hay ninguna otra entrada conectada.</translation>
    </message>
    <message>
        <source>Heart rate — /min</source>
        <translation>Frecuencia cardiaca — /min</translation>
    </message>
    <message>
        <source>Heart rate %1 /min · confidence %2</source>
        <translation>Frecuencia cardiaca %1 /min · confianza %2</translation>
    </message>
    <message>
        <source>Stethoscope input</source>
        <translation>Entrada del estetoscopio</translation>
    </message>
    <message>
        <source>Listen</source>
        <translation>Escuchar</translation>
    </message>
    <message>
        <source>Gain</source>
        <translation>Ganancia</translation>
    </message>
    <message>
        <source>Clipping: lower the gain when this turns red</source>
        <translation>Saturación: baje la ganancia cuando esto se ponga rojo</translation>
    </message>
    <message>
        <source>Clipping light</source>
        <translation>Indicador de saturación</translation>
    </message>
    <message>
        <source>Filter</source>
        <translation>Filtro</translation>
    </message>
    <message>
        <source>Heart rate</source>
        <translation>Frecuencia cardiaca</translation>
    </message>
    <message>
        <source>Auscultation site</source>
        <translation>Sitio de auscultación</translation>
    </message>
    <message>
        <source>Recording time</source>
        <translation>Tiempo de grabación</translation>
    </message>
    <message>
        <source>Play</source>
        <translation>Reproducir</translation>
    </message>
    <message>
        <source>Attach</source>
        <translation>Adjuntar</translation>
    </message>
    <message>
        <source>Attach the recording to this encounter</source>
        <translation>Adjuntar la grabación a esta consulta</translation>
    </message>
    <message>
        <source>Send to visit</source>
        <translation>Enviar a la visita</translation>
    </message>
    <message>
        <source>seconds</source>
        <translation>segundos</translation>
    </message>
    <message>
        <source>Hz</source>
        <translation>Hz</translation>
    </message>
    <message>
        <source>Input</source>
        <translation>Entrada</translation>
    </message>
    <message>
        <source>Site</source>
        <translation>Sitio</translation>
    </message>
    <message>
        <source>Listening to the remote stethoscope.</source>
        <translation>Escuchando el estetoscopio remoto.</translation>
    </message>
    <message>
        <source>Listening stopped: the visit ended.</source>
        <translation>Se dejó de escuchar: la visita terminó.</translation>
    </message>
    <message>
        <source>Remote stethoscope (%1)</source>
        <translation>Estetoscopio remoto (%1)</translation>
    </message>
    <message>
        <source>Stop</source>
        <translation>Detener</translation>
    </message>
    <message>
        <source>Record</source>
        <translation>Grabar</translation>
    </message>
    <message>
        <source>Recorded %1 s at %2; stopped early: %3</source>
        <translation>Grabados %1 s en %2; se detuvo antes: %3</translation>
    </message>
    <message>
        <source>Recorded %1 s at %2: the longest a recording can be.</source>
        <translation>Grabados %1 s en %2: la duración máxima de una grabación.</translation>
    </message>
    <message>
        <source>Recorded %1 s at %2</source>
        <translation>Grabados %1 s en %2</translation>
    </message>
    <message>
        <source>Attached to the encounter.</source>
        <translation>Adjuntado a la consulta.</translation>
    </message>
</context>
<context>
    <name>QtStillCompare</name>
    <message>
        <source>Link zoom and pan</source>
        <translation>Vincular zoom y desplazamiento</translation>
    </message>
    <message>
        <source>Compare with:</source>
        <translation>Comparar con:</translation>
    </message>
    <message>
        <source>Compare stills</source>
        <translation>Comparar fotos</translation>
    </message>
</context>
<context>
    <name>QtStillView</name>
    <message>
        <source>No camera open</source>
        <translation>Ninguna cámara abierta</translation>
    </message>
</context>
<context>
    <name>QtStillViewer</name>
    <message>
        <source>Left</source>
        <translation>Izquierdo</translation>
    </message>
    <message>
        <source>Right</source>
        <translation>Derecho</translation>
    </message>
    <message>
        <source>Both sides</source>
        <translation>Ambos lados</translation>
    </message>
    <message>
        <source>Site</source>
        <translation>Zona anatómica</translation>
    </message>
    <message>
        <source>Side</source>
        <translation>Lado</translation>
    </message>
    <message>
        <source>View</source>
        <translation>Vista</translation>
    </message>
    <message>
        <source>Taken</source>
        <translation>Tomada</translation>
    </message>
    <message>
        <source>By</source>
        <translation>Por</translation>
    </message>
    <message>
        <source>Camera</source>
        <translation>Cámara</translation>
    </message>
    <message>
        <source>Size</source>
        <translation>Tamaño</translation>
    </message>
    <message>
        <source>{0} × {1} px</source>
        <translation>{0} × {1} px</translation>
    </message>
    <message>
        <source>Scale</source>
        <translation>Escala</translation>
    </message>
    <message>
        <source>{0} mm/px</source>
        <translation>{0} mm/px</translation>
    </message>
    <message>
        <source>not calibrated</source>
        <translation>sin calibrar</translation>
    </message>
    <message>
        <source>Quality</source>
        <translation>Calidad</translation>
    </message>
    <message>
        <source>{0} (kept anyway)</source>
        <translation>{0} (conservada de todos modos)</translation>
    </message>
    <message>
        <source>Move</source>
        <translation>Mover</translation>
    </message>
    <message>
        <source>Arrow</source>
        <translation>Flecha</translation>
    </message>
    <message>
        <source>Outline</source>
        <translation>Contorno</translation>
    </message>
    <message>
        <source>Measure</source>
        <translation>Medir</translation>
    </message>
    <message>
        <source>Label</source>
        <translation>Etiqueta</translation>
    </message>
    <message>
        <source>Fit</source>
        <translation>Ajustar</translation>
    </message>
    <message>
        <source>1:1</source>
        <translation>1:1</translation>
    </message>
    <message>
        <source>Show annotations</source>
        <translation>Mostrar anotaciones</translation>
    </message>
    <message>
        <source>Undo</source>
        <translation>Deshacer</translation>
    </message>
    <message>
        <source>Save annotations</source>
        <translation>Guardar anotaciones</translation>
    </message>
    <message>
        <source>Remove selected</source>
        <translation>Quitar la seleccionada</translation>
    </message>
    <message>
        <source>Annotations</source>
        <translation>Anotaciones</translation>
    </message>
    <message>
        <source>Still</source>
        <translation>Foto</translation>
    </message>
    <message>
        <source>Viewing version {0} (read-only)</source>
        <translation>Viendo la versión {0} (solo lectura)</translation>
    </message>
    <message>
        <source>Annotations: version {0}</source>
        <translation>Anotaciones: versión {0}</translation>
    </message>
    <message>
        <source>No annotations saved yet</source>
        <translation>Aún no hay anotaciones guardadas</translation>
    </message>
    <message>
        <source>Length</source>
        <translation>Longitud</translation>
    </message>
    <message>
        <source>{0}: {1}</source>
        <translation>{0}: {1}</translation>
    </message>
    <message>
        <source>Version {0} · {1} · {2}</source>
        <translation>Versión {0} · {1} · {2}</translation>
    </message>
</context>
<context>
    <name>QtStoreStatus</name>
    <message>
        <source>Save failed — will retry</source>
        <translation>No se pudo guardar — se reintentará</translation>
    </message>
    <message>
        <source>Saving…</source>
        <translation>Guardando…</translation>
    </message>
    <message>
        <source>Records open</source>
        <translation>Historias abiertas</translation>
    </message>
    <message>
        <source>Locked</source>
        <translation>Bloqueada</translation>
    </message>
    <message>
        <source>Closed</source>
        <translation>Cerrada</translation>
    </message>
    <message>
        <source>Protected by this computer&apos;s keychain</source>
        <translation>Protegido por el llavero de este equipo</translation>
    </message>
    <message>
        <source>Protected by your passphrase</source>
        <translation>Protegido por su frase de contraseña</translation>
    </message>
    <message>
        <source>Saved %1</source>
        <translation>Guardado %1</translation>
    </message>
    <message>
        <source>All changes saved</source>
        <translation>Todos los cambios guardados</translation>
    </message>
    <message>
        <source>Opening records…</source>
        <translation>Abriendo historias…</translation>
    </message>
    <message>
        <source>Encrypted records: %1</source>
        <translation>Historias cifradas: %1</translation>
    </message>
    <message>
        <source>Locked — PIN or passphrase needed</source>
        <translation>Bloqueada — se necesita el PIN o la frase de contraseña</translation>
    </message>
    <message>
        <source>Records not opened</source>
        <translation>Historias no abiertas</translation>
    </message>
    <message>
        <source>Locked — sign-in needed</source>
        <translation>Bloqueada — se necesita iniciar sesión</translation>
    </message>
    <message>
        <source>Working…</source>
        <translation>Trabajando…</translation>
    </message>
</context>
<context>
    <name>QtSyncDetails</name>
    <message>
        <source>set aside: %1</source>
        <translation>apartado: %1</translation>
    </message>
    <message numerus="yes">
        <source>%1; not sent again after %n attempts (Retry: 5 more)</source>
        <translation>
            <numerusform>%1; no se volverá a enviar tras %n intento (Reintentar: 5 más)</numerusform>
            <numerusform>%1; no se volverá a enviar tras %n intentos (Reintentar: 5 más)</numerusform>
        </translation>
    </message>
    <message>
        <source>this still cannot be made into DICOM (%1); the record store keeps it</source>
        <translation>esta foto no puede convertirse a DICOM (%1); el servidor de historias la conserva</translation>
    </message>
    <message>
        <source>1 attempt</source>
        <translation>1 intento</translation>
    </message>
    <message numerus="yes">
        <source>%n attempts</source>
        <translation>
            <numerusform>%n intento</numerusform>
            <numerusform>%n intentos</numerusform>
        </translation>
    </message>
    <message>
        <source>changed elsewhere, noticed %1</source>
        <translation>cambiado en otro lugar, detectado %1</translation>
    </message>
    <message>
        <source>Waiting to be sent: %1   ·   Refused by the server: %2   ·   Conflicts: %3</source>
        <translation>Pendientes de envío: %1   ·   Rechazados por el servidor: %2   ·   Conflictos: %3</translation>
    </message>
    <message>
        <source>Sync details</source>
        <translation>Detalles de la sincronización</translation>
    </message>
    <message>
        <source>Open note</source>
        <translation>Abrir nota</translation>
    </message>
    <message>
        <source>Keep my annotations</source>
        <translation>Conservar mis anotaciones</translation>
    </message>
    <message>
        <source>Send the annotations saved here over the version saved elsewhere</source>
        <translation>Enviar las anotaciones guardadas aquí en lugar de la versión guardada en otro lugar</translation>
    </message>
    <message>
        <source>Take their annotations</source>
        <translation>Aceptar las otras anotaciones</translation>
    </message>
    <message>
        <source>Keep the version saved elsewhere; yours stay in the still&apos;s version history</source>
        <translation>Conservar la versión guardada en otro lugar; las propias quedan en el historial de versiones de la foto</translation>
    </message>
    <message>
        <source>Retry</source>
        <translation>Reintentar</translation>
    </message>
    <message>
        <source>Send the selected refused record again at the next sync</source>
        <translation>Volver a enviar el registro rechazado seleccionado en la próxima sincronización</translation>
    </message>
    <message>
        <source>Sync now</source>
        <translation>Sincronizar ahora</translation>
    </message>
    <message>
        <source>Close</source>
        <translation>Cerrar</translation>
    </message>
    <message>
        <source>Why something was not sent</source>
        <translation>Por qué algo no se envió</translation>
    </message>
    <message>
        <source>Notes and annotations changed both here and elsewhere</source>
        <translation>Notas y anotaciones cambiadas aquí y en otro lugar</translation>
    </message>
</context>
<context>
    <name>QtSyncStatus</name>
    <message>
        <source>1 change to send</source>
        <translation>1 cambio por enviar</translation>
    </message>
    <message>
        <source>%1 changes to send</source>
        <translation>%1 cambios por enviar</translation>
    </message>
    <message>
        <source>%1 not accepted</source>
        <translation>%1 no aceptados</translation>
    </message>
    <message>
        <source>Notes changed both here and elsewhere: open to decide</source>
        <translation>Notas cambiadas aquí y en otro lugar: ábralas para decidir</translation>
    </message>
    <message>
        <source>Click for details.</source>
        <translation>Haga clic para ver los detalles.</translation>
    </message>
    <message>
        <source>Changes saved here that the record store does not have yet</source>
        <translation>Cambios guardados aquí que el servidor de historias aún no tiene</translation>
    </message>
</context>
<context>
    <name>QtTechCheckDialog</name>
    <message>
        <source>Tech check</source>
        <translation>Prueba técnica</translation>
    </message>
    <message>
        <source>Check again</source>
        <translation>Volver a comprobar</translation>
    </message>
</context>
<context>
    <name>QtVisitStartDialog</name>
    <message>
        <source>e.g. US-WA, CA-ON, GB</source>
        <translation>p. ej., US-WA, CA-ON, GB</translation>
    </message>
    <message>
        <source>Where the patient is now</source>
        <translation>Dónde está el paciente ahora</translation>
    </message>
    <message>
        <source>at home</source>
        <translation>en su domicilio</translation>
    </message>
    <message>
        <source>at a clinic, hospital or care home</source>
        <translation>en una clínica, un hospital o una residencia</translation>
    </message>
    <message>
        <source>somewhere else</source>
        <translation>en otro lugar</translation>
    </message>
    <message>
        <source>setting not said</source>
        <translation>sin indicar el entorno</translation>
    </message>
    <message>
        <source>Stated by the patient on their page: {place}, {setting}. Confirm it with the patient: it is recorded only when you do.</source>
        <translation>Indicado por el paciente en su página: {place}, {setting}. Confírmelo con el paciente: solo se registra cuando usted lo confirma.</translation>
    </message>
    <message>
        <source>Start of visit</source>
        <translation>Inicio de la visita</translation>
    </message>
    <message>
        <source>Ask the patient before the visit starts. Their answers go into the note and the record.</source>
        <translation>Pregunte al paciente antes de que empiece la visita. Sus respuestas se incluyen en la nota y en la historia clínica.</translation>
    </message>
    <message>
        <source>Where the patient is now (country-region):</source>
        <translation>Dónde está el paciente ahora (país-región):</translation>
    </message>
    <message>
        <source>At home</source>
        <translation>En su domicilio</translation>
    </message>
    <message>
        <source>At a clinic or facility</source>
        <translation>En una clínica o centro</translation>
    </message>
    <message>
        <source>Setting:</source>
        <translation>Entorno:</translation>
    </message>
    <message>
        <source>How identity was verified</source>
        <translation>Cómo se verificó la identidad</translation>
    </message>
    <message>
        <source>Name and date of birth confirmed</source>
        <translation>Nombre y fecha de nacimiento confirmados</translation>
    </message>
    <message>
        <source>Photo ID shown on camera</source>
        <translation>Identificación con foto mostrada a la cámara</translation>
    </message>
    <message>
        <source>Known to the clinician</source>
        <translation>Conocido por el profesional</translation>
    </message>
    <message>
        <source>Confirmed by the nurse at the cart</source>
        <translation>Confirmada por el personal de enfermería junto al carro</translation>
    </message>
    <message>
        <source>Identity verified by:</source>
        <translation>Identidad verificada por:</translation>
    </message>
    <message>
        <source>Consent to this telehealth visit:</source>
        <translation>Consentimiento para esta visita de telesalud:</translation>
    </message>
    <message>
        <source>Consent to recording (stethoscope, stills):</source>
        <translation>Consentimiento para grabar (estetoscopio, fotos):</translation>
    </message>
    <message>
        <source>How consent was given</source>
        <translation>Cómo se dio el consentimiento</translation>
    </message>
    <message>
        <source>Verbal</source>
        <translation>Verbal</translation>
    </message>
    <message>
        <source>Written</source>
        <translation>Por escrito</translation>
    </message>
    <message>
        <source>Consent given:</source>
        <translation>Consentimiento dado:</translation>
    </message>
    <message>
        <source>Note template</source>
        <translation>Plantilla de nota</translation>
    </message>
    <message>
        <source>No template (keep the note as it is)</source>
        <translation>Sin plantilla (dejar la nota como está)</translation>
    </message>
    <message>
        <source>Note template:</source>
        <translation>Plantilla de nota:</translation>
    </message>
    <message>
        <source>Start visit</source>
        <translation>Iniciar visita</translation>
    </message>
    <message>
        <source>Given</source>
        <translation>Otorgado</translation>
    </message>
    <message>
        <source>Declined</source>
        <translation>Rechazado</translation>
    </message>
    <message>
        <source>Not asked</source>
        <translation>No se preguntó</translation>
    </message>
    <message>
        <source>Enter where the patient is, e.g. US-WA.</source>
        <translation>Indique dónde está el paciente, p. ej., US-WA.</translation>
    </message>
    <message>
        <source>Ask whether the patient is at home or at a facility.</source>
        <translation>Pregunte si el paciente está en su domicilio o en un centro.</translation>
    </message>
    <message>
        <source>Ask for and record consent to the visit.</source>
        <translation>Solicite y registre el consentimiento para la visita.</translation>
    </message>
    <message>
        <source>Your organisation requires consent before a telehealth visit.</source>
        <translation>Su organización exige el consentimiento antes de una visita de telesalud.</translation>
    </message>
</context>
<context>
    <name>QtVisitWindow</name>
    <message>
        <source>Video visit · Clinician Console</source>
        <translation>Videoconsulta · Clinician Console</translation>
    </message>
    <message>
        <source>Video visit</source>
        <translation>Videoconsulta</translation>
    </message>
    <message>
        <source>Patient</source>
        <translation>Paciente</translation>
    </message>
    <message>
        <source>Time since the first other person joined</source>
        <translation>Tiempo desde que se unió la primera persona</translation>
    </message>
    <message>
        <source>Low-bandwidth mode</source>
        <translation>Modo de poco ancho de banda</translation>
    </message>
    <message>
        <source>The network is struggling, so video is sent at a lower resolution and frame rate. It steps back up by itself when the link recovers.</source>
        <translation>La red tiene dificultades, así que el video se envía con menor resolución y tasa de imágenes. Vuelve a subir solo cuando la conexión se recupera.</translation>
    </message>
    <message>
        <source>You</source>
        <translation>Usted</translation>
    </message>
    <message>
        <source>Speaker</source>
        <translation>Altavoz</translation>
    </message>
    <message>
        <source>Choose where you hear the call</source>
        <translation>Elija dónde escucha la llamada</translation>
    </message>
    <message>
        <source>People</source>
        <translation>Personas</translation>
    </message>
    <message>
        <source>Show or hide the waiting room and invite</source>
        <translation>Mostrar u ocultar la sala de espera y la invitación</translation>
    </message>
    <message>
        <source>Note</source>
        <translation>Nota</translation>
    </message>
    <message>
        <source>Show the encounter note beside the video</source>
        <translation>Mostrar la nota de la consulta junto al video</translation>
    </message>
    <message>
        <source>Hang up</source>
        <translation>Colgar</translation>
    </message>
    <message>
        <source>End the visit</source>
        <translation>Terminar la visita</translation>
    </message>
    <message>
        <source>Close</source>
        <translation>Cerrar</translation>
    </message>
    <message>
        <source>Try again</source>
        <translation>Intentar de nuevo</translation>
    </message>
    <message>
        <source>Join the same visit again</source>
        <translation>Volver a unirse a la misma visita</translation>
    </message>
    <message>
        <source>Stay in the visit</source>
        <translation>Seguir en la visita</translation>
    </message>
    <message>
        <source>Unmute</source>
        <translation>Activar micrófono</translation>
    </message>
    <message>
        <source>Mute</source>
        <translation>Silenciar</translation>
    </message>
    <message>
        <source>Unmute the microphone</source>
        <translation>Activar el micrófono</translation>
    </message>
    <message>
        <source>Mute the microphone</source>
        <translation>Silenciar el micrófono</translation>
    </message>
    <message>
        <source>Unmute microphone</source>
        <translation>Activar micrófono</translation>
    </message>
    <message>
        <source>Mute microphone</source>
        <translation>Silenciar micrófono</translation>
    </message>
    <message>
        <source>Stop camera</source>
        <translation>Apagar cámara</translation>
    </message>
    <message>
        <source>Start camera</source>
        <translation>Encender cámara</translation>
    </message>
    <message>
        <source>Turn the camera on</source>
        <translation>Encender la cámara</translation>
    </message>
    <message>
        <source>Turn the camera off</source>
        <translation>Apagar la cámara</translation>
    </message>
    <message>
        <source>Turn camera on</source>
        <translation>Encender cámara</translation>
    </message>
    <message>
        <source>Turn camera off</source>
        <translation>Apagar cámara</translation>
    </message>
    <message>
        <source>MRN %1</source>
        <translation>N.º de historia %1</translation>
    </message>
    <message>
        <source>No speaker found: you will not hear the patient.</source>
        <translation>No se encontró altavoz: no oirá al paciente.</translation>
    </message>
    <message>
        <source>No microphone found: the patient hears a test tone instead of you.</source>
        <translation>No se encontró micrófono: el paciente oye un tono de prueba en lugar de usted.</translation>
    </message>
    <message>
        <source>No camera found: the patient sees a test pattern.</source>
        <translation>No se encontró cámara: el paciente ve una imagen de prueba.</translation>
    </message>
    <message>
        <source>Call length %1.</source>
        <translation>Duración de la llamada %1.</translation>
    </message>
    <message>
        <source>1 person is in the waiting room. Press Admit on the right to let them in.</source>
        <translation>Hay 1 persona en la sala de espera. Pulse Admitir a la derecha para dejarla entrar.</translation>
    </message>
    <message numerus="yes">
        <source>%n people are in the waiting room. Press Admit on the right to let them in.</source>
        <translation>
            <numerusform>Hay %n persona en la sala de espera. Pulse Admitir a la derecha para dejarla entrar.</numerusform>
            <numerusform>Hay %n personas en la sala de espera. Pulse Admitir a la derecha para dejarlas entrar.</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>QtWaitingRoom</name>
    <message>
        <source>Host</source>
        <translation>Anfitrión</translation>
    </message>
    <message>
        <source>Clinician</source>
        <translation>Profesional</translation>
    </message>
    <message>
        <source>Patient</source>
        <translation>Paciente</translation>
    </message>
    <message>
        <source>Guest</source>
        <translation>Invitado</translation>
    </message>
    <message>
        <source>Nobody is waiting. Patients who open the invite link appear here.</source>
        <translation>No hay nadie esperando. Los pacientes que abran el enlace de invitación aparecerán aquí.</translation>
    </message>
    <message>
        <source>waiting %1 s</source>
        <translation>esperando %1 s</translation>
    </message>
    <message>
        <source>waiting %1 min</source>
        <translation>esperando %1 min</translation>
    </message>
    <message>
        <source>waiting %1 h %2 min</source>
        <translation>esperando %1 h %2 min</translation>
    </message>
    <message>
        <source> (you)</source>
        <translation> (usted)</translation>
    </message>
    <message>
        <source>camera</source>
        <translation>cámara</translation>
    </message>
    <message>
        <source>no camera</source>
        <translation>sin cámara</translation>
    </message>
    <message>
        <source>sound</source>
        <translation>sonido</translation>
    </message>
    <message>
        <source>no sound</source>
        <translation>sin sonido</translation>
    </message>
    <message>
        <source>Waiting room</source>
        <translation>Sala de espera</translation>
    </message>
    <message>
        <source>In the visit</source>
        <translation>En la visita</translation>
    </message>
    <message>
        <source>Remove from the visit</source>
        <translation>Quitar de la visita</translation>
    </message>
    <message>
        <source>Remove this person from the visit? They leave the call now.</source>
        <translation>¿Quitar a esta persona de la visita? Saldrá de la llamada ahora.</translation>
    </message>
    <message>
        <source>Remove</source>
        <translation>Quitar</translation>
    </message>
    <message>
        <source>Keep in the visit</source>
        <translation>Mantener en la visita</translation>
    </message>
</context>
<context>
    <name>QtWorklist</name>
    <message>
        <source>Documents without a visit</source>
        <translation>Documentos sin visita</translation>
    </message>
    <message numerus="yes">
        <source>%n document(s)</source>
        <translation>
            <numerusform>%n documento</numerusform>
            <numerusform>%n documentos</numerusform>
        </translation>
    </message>
    <message>
        <source>%1 · %2 rec.</source>
        <translation>%1 · %2 grab.</translation>
    </message>
    <message>
        <source>Visits</source>
        <translation>Visitas</translation>
    </message>
    <message>
        <source>No note yet</source>
        <translation>Sin nota aún</translation>
    </message>
    <message>
        <source>Note · v%1</source>
        <translation>Nota · v%1</translation>
    </message>
    <message>
        <source>Note</source>
        <translation>Nota</translation>
    </message>
</context>
<context>
    <name>ReviewHooks</name>
    <message>
        <source>&amp;Review</source>
        <translation>&amp;Revisión</translation>
    </message>
    <message>
        <source>&amp;Stills of this visit…</source>
        <translation>&amp;Fotos de esta visita…</translation>
    </message>
    <message>
        <source>Select a visit first.</source>
        <translation>Seleccione primero una visita.</translation>
    </message>
</context>
<context>
    <name>StillViews</name>
    <message>
        <source>overview</source>
        <extracomment>The views of app.image_metadata.VIEWS (stored as these English words), marked for the catalogue (context ``StillViews``); view_text() translates.</extracomment>
        <translation>vista general</translation>
    </message>
    <message>
        <source>close-up</source>
        <translation>primer plano</translation>
    </message>
    <message>
        <source>anterior</source>
        <translation>anterior</translation>
    </message>
    <message>
        <source>posterior</source>
        <translation>posterior</translation>
    </message>
    <message>
        <source>lateral</source>
        <translation>lateral</translation>
    </message>
    <message>
        <source>medial</source>
        <translation>medial</translation>
    </message>
    <message>
        <source>superior</source>
        <translation>superior</translation>
    </message>
    <message>
        <source>inferior</source>
        <translation>inferior</translation>
    </message>
    <message>
        <source>dermoscopic</source>
        <translation>dermatoscópica</translation>
    </message>
    <message>
        <source>otoscopic</source>
        <translation>otoscópica</translation>
    </message>
    <message>
        <source>fundus</source>
        <translation>fondo de ojo</translation>
    </message>
    <message>
        <source>intraoral</source>
        <translation>intraoral</translation>
    </message>
</context>
<context>
    <name>SyncKinds</name>
    <message>
        <source>Patient</source>
        <extracomment>What each row is, by its code (app.sync.RecordKind), in the user&apos;s language.</extracomment>
        <translation>Paciente</translation>
    </message>
    <message>
        <source>Visit</source>
        <translation>Visita</translation>
    </message>
    <message>
        <source>Note</source>
        <translation>Nota</translation>
    </message>
    <message>
        <source>Signature</source>
        <translation>Firma</translation>
    </message>
    <message>
        <source>Attachment</source>
        <translation>Adjunto</translation>
    </message>
    <message>
        <source>Coding</source>
        <translation>Codificación</translation>
    </message>
    <message>
        <source>Annotations</source>
        <translation>Anotaciones</translation>
    </message>
    <message>
        <source>Consent</source>
        <translation>Consentimiento</translation>
    </message>
    <message>
        <source>Escalation</source>
        <translation>Escalada</translation>
    </message>
    <message>
        <source>On-call notification</source>
        <translation>Aviso a la guardia</translation>
    </message>
    <message>
        <source>E-consult</source>
        <translation>Interconsulta electrónica</translation>
    </message>
    <message>
        <source>E-consult request</source>
        <translation>Solicitud de interconsulta</translation>
    </message>
    <message>
        <source>E-consult message</source>
        <translation>Mensaje de interconsulta</translation>
    </message>
    <message>
        <source>E-consult answer</source>
        <translation>Respuesta de interconsulta</translation>
    </message>
    <message>
        <source>E-consult status</source>
        <translation>Estado de interconsulta</translation>
    </message>
    <message>
        <source>PACS still</source>
        <translation>Foto para el PACS</translation>
    </message>
    <message>
        <source>PACS · sign-in</source>
        <translation>PACS · inicio de sesión</translation>
    </message>
    <message>
        <source>Server record</source>
        <translation>Registro del servidor</translation>
    </message>
    <message>
        <source>Record</source>
        <translation>Registro</translation>
    </message>
</context>
<context>
    <name>_Field</name>
    <message>
        <source>Edit this in settings.toml (or IT&apos;s policy file).</source>
        <translation>Edite esto en settings.toml (o en el archivo de políticas de TI).</translation>
    </message>
</context>
<context>
    <name>_ParticipantRow</name>
    <message>
        <source>Remove</source>
        <translation>Quitar</translation>
    </message>
    <message>
        <source>Remove this person from the visit</source>
        <translation>Quitar a esta persona de la visita</translation>
    </message>
</context>
<context>
    <name>_WaitingRow</name>
    <message>
        <source>Admit</source>
        <translation>Admitir</translation>
    </message>
    <message>
        <source>Let this person into the visit</source>
        <translation>Dejar entrar a esta persona en la visita</translation>
    </message>
</context>
<context>
    <name>conflict</name>
    <message>
        <source>This note was also changed elsewhere</source>
        <translation>Esta nota también se cambió en otro lugar</translation>
    </message>
    <message>
        <source>Another copy of this note was changed on the record store (noticed {when}). Choose which version to keep: nothing is changed until you do, and the other version stays in History.</source>
        <translation>Otra copia de esta nota se cambió en el servidor de historias (detectado {when}). Elija qué versión conservar: nada cambia hasta que lo haga, y la otra versión queda en el Historial.</translation>
    </message>
    <message>
        <source>Your latest typing could not be saved yet, so nothing was resolved. Try again.</source>
        <translation>Lo último que escribió aún no se pudo guardar, así que no se resolvió nada. Inténtelo de nuevo.</translation>
    </message>
</context>
<context>
    <name>errors</name>
    <message>
        <source>Something went wrong ({kind}). Your work is kept; details were written to the log.</source>
        <translation>Algo salió mal ({kind}). Su trabajo se conserva; los detalles se escribieron en el registro.</translation>
    </message>
</context>
<context>
    <name>format</name>
    <message>
        <source>Today %1</source>
        <translation>Hoy %1</translation>
    </message>
    <message>
        <source>%1 y</source>
        <translation>%1 a</translation>
    </message>
</context>
<context>
    <name>history</name>
    <message>
        <source>Loading versions…</source>
        <translation>Cargando versiones…</translation>
    </message>
    <message>
        <source>The current text could not be saved yet, so no version was restored.</source>
        <translation>El texto actual aún no se pudo guardar, así que no se restauró ninguna versión.</translation>
    </message>
</context>
<context>
    <name>main_window</name>
    <message>
        <source>You locked the console.</source>
        <translation>Usted bloqueó la consola.</translation>
    </message>
    <message>
        <source>The console locked itself after a period without input.</source>
        <translation>La consola se bloqueó sola tras un tiempo sin uso.</translation>
    </message>
    <message>
        <source>The console locked because the computer went to sleep.</source>
        <translation>La consola se bloqueó porque el equipo entró en suspensión.</translation>
    </message>
    <message>
        <source>The console locked together with your desktop session.</source>
        <translation>La consola se bloqueó junto con su sesión de escritorio.</translation>
    </message>
    <message>
        <source>The console is ready for the next clinician.</source>
        <translation>La consola está lista para el siguiente profesional.</translation>
    </message>
    <message>
        <source>The console locked itself after 1 minute without input.</source>
        <translation>La consola se bloqueó tras 1 minuto sin actividad.</translation>
    </message>
</context>
<context>
    <name>messages</name>
    <message>
        <source>The annotations on this still were changed elsewhere (now version {found}); yours were not saved. Reload them and add your changes again.</source>
        <translation>Las anotaciones de esta foto se cambiaron en otro lugar (ahora versión {found}); las suyas no se guardaron. Vuelva a cargarlas y agregue sus cambios de nuevo.</translation>
    </message>
    <message>
        <source>The audit log&apos;s key for the record store at {path} is missing from the OS keyring, so the audit trail cannot be checked or continued. The store was left untouched; restore the keyring from a backup (see docs/storage.md, &apos;Audit log&apos;).</source>
        <translation>Falta en el llavero del sistema la clave del registro de auditoría del almacén en {path}, así que el registro de auditoría no se puede comprobar ni continuar. El almacén no se modificó; restaure el llavero desde una copia de seguridad (vea docs/storage.md, &apos;Audit log&apos;).</translation>
    </message>
    <message>
        <source>The record store is older than its last recorded state: audit entry {seq} {problem}. It was restored from an older copy or its write-ahead log (store.db-wal) was removed, so recent work may be missing. Nothing was changed. Put the newer files back; if the restore was intended, IT runs `clinician-console audit reanchor --confirm` (which is itself recorded in the audit log).</source>
        <translation>El almacén de historias es más antiguo que su último estado registrado: entrada de auditoría {seq} {problem}. Se restauró desde una copia antigua o se eliminó su registro de escritura anticipada (store.db-wal), así que puede faltar trabajo reciente. No se cambió nada. Vuelva a poner los archivos más recientes; si la restauración fue intencionada, TI ejecuta `clinician-console audit reanchor --confirm` (que también queda en el registro de auditoría).</translation>
    </message>
    <message>
        <source>The audit log does not verify: entry {seq} {problem}.</source>
        <translation>El registro de auditoría no se verifica: entrada {seq} {problem}.</translation>
    </message>
    <message>
        <source>{reason}</source>
        <translation>{reason}</translation>
    </message>
    <message>
        <source>Demo mode is turned off by your organisation&apos;s managed policy (demo.allowed).</source>
        <translation>El modo de demostración está desactivado por la política de su organización (demo.allowed).</translation>
    </message>
    <message>
        <source>{key} uses plain {scheme}:// to {host}, which would send credentials and patient data unencrypted. Use {secure}://; only IT can allow this host, in the managed policy (security.allow_insecure_hosts).</source>
        <translation>{key} usa {scheme}:// sin cifrar hacia {host}, lo que enviaría credenciales y datos de pacientes sin cifrar. Use {secure}://; solo TI puede permitir este servidor, en la política administrada (security.allow_insecure_hosts).</translation>
    </message>
    <message>
        <source>The settings file {path} could not be read: {reason}.</source>
        <translation>No se pudo leer el archivo de configuración {path}: {reason}.</translation>
    </message>
    <message>
        <source>Your organisation&apos;s managed policy {path} is not valid ({reason}). The console will not run until IT corrects it.</source>
        <translation>La política administrada de su organización {path} no es válida ({reason}). La consola no se ejecutará hasta que TI la corrija.</translation>
    </message>
    <message>
        <source>{key} in {path} can only be set by your organisation&apos;s managed policy.</source>
        <translation>{key} en {path} solo puede definirlo la política administrada de su organización.</translation>
    </message>
    <message>
        <source>{key} is set by your organisation&apos;s managed policy; {option} cannot change it.</source>
        <translation>{key} lo define la política administrada de su organización; {option} no puede cambiarlo.</translation>
    </message>
    <message>
        <source>The console&apos;s unlock file in the profile is damaged or was changed ({reason}). The console will not open without it; ask IT to restore the profile from a backup.</source>
        <translation>El archivo de desbloqueo de la consola en el perfil está dañado o fue modificado ({reason}). La consola no se abrirá sin él; pida a TI que restaure el perfil desde una copia de seguridad.</translation>
    </message>
    <message>
        <source>Too many wrong attempts: wait {wait_s} seconds, then try again.</source>
        <translation>Demasiados intentos incorrectos: espere {wait_s} segundos y vuelva a intentarlo.</translation>
    </message>
    <message>
        <source>That is not the console&apos;s {what}. Try again.</source>
        <translation>Ese no es el {what} de la consola. Inténtelo de nuevo.</translation>
    </message>
    <message>
        <source>The device {device} could not be used: {reason}.</source>
        <translation>No se pudo usar el dispositivo {device}: {reason}.</translation>
    </message>
    <message>
        <source>The device {device} is not available ({reason}). Check that it is plugged in and not used by another program, or choose another device.</source>
        <translation>El dispositivo {device} no está disponible ({reason}). Compruebe que esté conectado y que otro programa no lo esté usando, o elija otro dispositivo.</translation>
    </message>
    <message>
        <source>Sign-in was not completed ({reason}). Try again.</source>
        <translation>No se completó el inicio de sesión ({reason}). Vuelva a intentarlo.</translation>
    </message>
    <message>
        <source>Clinician sign-in is not set up correctly: {reason}. Ask IT.</source>
        <translation>El inicio de sesión de profesionales no está bien configurado: {reason}. Consulte a TI.</translation>
    </message>
    <message>
        <source>The sign-in service&apos;s answer could not be verified ({reason}); it was not used. Tell IT if this keeps happening.</source>
        <translation>No se pudo verificar la respuesta del servicio de inicio de sesión ({reason}); no se usó. Avise a TI si esto sigue ocurriendo.</translation>
    </message>
    <message>
        <source>Offline sign-in is not possible: {reason}.</source>
        <translation>No es posible iniciar sesión sin conexión: {reason}.</translation>
    </message>
    <message>
        <source>The sign-in service refused the sign-in ({reason}).</source>
        <translation>El servicio de inicio de sesión rechazó el inicio de sesión ({reason}).</translation>
    </message>
    <message>
        <source>Please sign in again ({reason}).</source>
        <translation>Vuelva a iniciar sesión ({reason}).</translation>
    </message>
    <message>
        <source>The sign-in service cannot be reached ({reason}). If you signed in on this computer recently, you can use your offline PIN.</source>
        <translation>No se puede conectar con el servicio de inicio de sesión ({reason}). Si inició sesión en esta computadora hace poco, puede usar su PIN sin conexión.</translation>
    </message>
    <message>
        <source>That is not your offline PIN. Try again.</source>
        <translation>Ese no es su PIN sin conexión. Vuelva a intentarlo.</translation>
    </message>
    <message>
        <source>The import file was rejected and nothing was changed: {reason}.</source>
        <translation>Se rechazó el archivo de importación y no se cambió nada: {reason}.</translation>
    </message>
    <message>
        <source>The input was rejected: {reason}.</source>
        <translation>Se rechazó la entrada: {reason}.</translation>
    </message>
    <message>
        <source>The file {name} could not be used: {reason}. Nothing was imported.</source>
        <translation>No se pudo usar el archivo {name}: {reason}. No se importó nada.</translation>
    </message>
    <message>
        <source>The on-call contact could not be notified ({reason}). Call them instead.</source>
        <translation>No se pudo avisar al contacto de guardia ({reason}). Llámelo por teléfono.</translation>
    </message>
    <message>
        <source>The PACS did not accept the console&apos;s credentials (HTTP {status}). Stills wait here and the PACS is not asked again with the same credentials. Re-authenticate: check auth and username in [pacs], then set the password or token again with `clinician-console secret set pacs` (or choose Retry once the PACS account is fixed).</source>
        <translation>El PACS no aceptó las credenciales de la consola (HTTP {status}). Las fotos esperan aquí y no se vuelve a llamar al PACS con las mismas credenciales. Vuelva a autenticarse: revise auth y username en [pacs] y guarde de nuevo la contraseña o el token con `clinician-console secret set pacs` (o elija Reintentar cuando la cuenta del PACS esté corregida).</translation>
    </message>
    <message>
        <source>The PACS is not set up correctly: {reason}. Stills wait here.</source>
        <translation>El PACS no está bien configurado: {reason}. Las fotos esperan aquí.</translation>
    </message>
    <message>
        <source>The OS keyring holds no secret for the PACS (auth = {auth}). Stills wait here. IT sets it with `clinician-console secret set pacs`, which reads the password or bearer token from standard input.</source>
        <translation>El llavero del sistema no guarda ningún secreto para el PACS (auth = {auth}). Las fotos esperan aquí. TI lo define con `clinician-console secret set pacs`, que lee la contraseña o el token de portador de la entrada estándar.</translation>
    </message>
    <message>
        <source>The plugin {plugin_id} used the capability {capability}, which it was not granted.</source>
        <translation>El complemento {plugin_id} usó la capacidad {capability}, que no se le había concedido.</translation>
    </message>
    <message>
        <source>{capability} is not available right now: {reason}.</source>
        <translation>{capability} no está disponible ahora: {reason}.</translation>
    </message>
    <message>
        <source>The plugin {plugin_id} failed and was disabled: {reason}.</source>
        <translation>El complemento {plugin_id} falló y se desactivó: {reason}.</translation>
    </message>
    <message>
        <source>The plugin {plugin_id} could not be loaded and was disabled: {reason}.</source>
        <translation>No se pudo cargar el complemento {plugin_id} y se desactivó: {reason}.</translation>
    </message>
    <message>
        <source>The plugin manifest {path} is not valid: {reason}.</source>
        <translation>El manifiesto de complemento {path} no es válido: {reason}.</translation>
    </message>
    <message>
        <source>The plugin {plugin_id} is not on your organisation&apos;s list of allowed plugins (plugins.allow) and was not loaded.</source>
        <translation>El complemento {plugin_id} no está en la lista de complementos permitidos de su organización (plugins.allow) y no se cargó.</translation>
    </message>
    <message>
        <source>The note was not signed because it changed or is in conflict ({reason}). Review it and sign again.</source>
        <translation>La nota no se firmó porque cambió o está en conflicto ({reason}). Revísela y vuelva a firmarla.</translation>
    </message>
    <message>
        <source>The note was not signed: {reason}.</source>
        <translation>La nota no se firmó: {reason}.</translation>
    </message>
    <message>
        <source>The note was not signed: your signing key is not available ({reason}). Unlock the system keyring and sign again.</source>
        <translation>La nota no se firmó: su clave de firma no está disponible ({reason}). Desbloquee el llavero del sistema y vuelva a firmar.</translation>
    </message>
    <message>
        <source>The record store at {path} is damaged ({reason}). It was left untouched; restore it from a backup or contact support.</source>
        <translation>El almacén de historias en {path} está dañado ({reason}). No se modificó; restáurelo desde una copia de seguridad o contacte con soporte.</translation>
    </message>
    <message>
        <source>The disk is full: the last change was not saved. Free some space; the console will try again.</source>
        <translation>El disco está lleno: el último cambio no se guardó. Libere espacio; la consola lo intentará de nuevo.</translation>
    </message>
    <message>
        <source>The record store could not be used: {reason}.</source>
        <translation>No se pudo usar el almacén de historias: {reason}.</translation>
    </message>
    <message>
        <source>The key in the OS keyring does not open the record store at {path}. The store was left untouched (see docs/storage.md, &apos;Recovering&apos;).</source>
        <translation>La clave del llavero del sistema no abre el almacén de historias en {path}. El almacén no se modificó (vea docs/storage.md, &apos;Recovering&apos;).</translation>
    </message>
    <message>
        <source>The key for the record store at {path} is missing from the OS keyring. The store was left untouched. Restore the keyring entry, or restore the store from a backup (see docs/storage.md, &apos;Recovering&apos;).</source>
        <translation>Falta en el llavero del sistema la clave del almacén de historias en {path}. El almacén no se modificó. Restaure la entrada del llavero, o restaure el almacén desde una copia de seguridad (vea docs/storage.md, &apos;Recovering&apos;).</translation>
    </message>
    <message>
        <source>No OS keyring is available ({backend}). The store key cannot be kept safely; use a passphrase instead.</source>
        <translation>No hay un llavero del sistema disponible ({backend}). La clave del almacén no se puede guardar de forma segura; use una frase de contraseña.</translation>
    </message>
    <message>
        <source>The record store is locked. Unlock it to continue.</source>
        <translation>El almacén de historias está bloqueado. Desbloquéelo para continuar.</translation>
    </message>
    <message>
        <source>The record store&apos;s key metadata ({path}) does not match the store: {reason}. Nothing was deleted or changed. Restore {path} from a backup of this profile (the database and its key are untouched); see docs/storage.md, &apos;When opening fails&apos;.</source>
        <translation>Los metadatos de clave del almacén de historias ({path}) no coinciden con el almacén: {reason}. No se borró ni cambió nada. Restaure {path} desde una copia de seguridad de este perfil (la base de datos y su clave no se tocaron); vea docs/storage.md, &apos;When opening fails&apos;.</translation>
    </message>
    <message>
        <source>The record store file {path} is missing although this profile had one. Nothing was created; restore the file from a backup.</source>
        <translation>Falta el archivo del almacén de historias {path}, aunque este perfil tenía uno. No se creó nada; restaure el archivo desde una copia de seguridad.</translation>
    </message>
    <message>
        <source>This build of the console is not linked against SQLCipher ({reason}), so it cannot encrypt the record store. Nothing was written. Reinstall the console from IT&apos;s package.</source>
        <translation>Esta compilación de la consola no está enlazada con SQLCipher ({reason}), por lo que no puede cifrar el almacén de historias. No se escribió nada. Reinstale la consola desde el paquete de TI.</translation>
    </message>
    <message>
        <source>The {kind} {record_id} does not exist.</source>
        <translation>El registro {kind} {record_id} no existe.</translation>
    </message>
    <message>
        <source>The record store is protected by a passphrase. Enter it to unlock.</source>
        <translation>El almacén de historias está protegido con una frase de contraseña. Escríbala para desbloquear.</translation>
    </message>
    <message>
        <source>A passphrase needs at least {minimum} characters.</source>
        <translation>La frase de contraseña necesita al menos {minimum} caracteres.</translation>
    </message>
    <message>
        <source>The record store was written by a newer Clinician Console (schema {found}, this version knows up to {known}). Upgrade the console; the store was left untouched.</source>
        <translation>El almacén de historias fue escrito por una versión más nueva de Clinician Console (esquema {found}; esta versión conoce hasta el {known}). Actualice la consola; el almacén no se modificó.</translation>
    </message>
    <message>
        <source>The passphrase does not open the record store. Try again.</source>
        <translation>La frase de contraseña no abre el almacén de historias. Inténtelo de nuevo.</translation>
    </message>
    <message>
        <source>The record store did not accept the console&apos;s credentials ({reason}). Check the user name or client id in [record_store] and the secret set with `clinician-console secret set record_store`.</source>
        <translation>El servidor de historias no aceptó las credenciales de la consola ({reason}). Revise el nombre de usuario o el id de cliente en [record_store] y el secreto definido con `clinician-console secret set record_store`.</translation>
    </message>
    <message>
        <source>The record store is not set up correctly: {reason}.</source>
        <translation>El servidor de historias no está bien configurado: {reason}.</translation>
    </message>
    <message>
        <source>The record store refused the change because the record was changed elsewhere since this console last saw it (HTTP {status}).</source>
        <translation>El servidor de historias rechazó el cambio porque el registro se modificó en otro lugar desde la última vez que esta consola lo vio (HTTP {status}).</translation>
    </message>
    <message>
        <source>Syncing with the record store failed: {reason}.</source>
        <translation>La sincronización con el servidor de historias falló: {reason}.</translation>
    </message>
    <message>
        <source>Sync ran into an unexpected problem ({reason}). Nothing was lost; the console will try again. Tell IT if this keeps happening.</source>
        <translation>La sincronización tuvo un problema inesperado ({reason}). No se perdió nada; la consola lo intentará de nuevo. Avise a TI si sigue ocurriendo.</translation>
    </message>
    <message>
        <source>The record store sent a response the console cannot use ({reason}). Nothing was taken from it; the console will try again.</source>
        <translation>El servidor de historias envió una respuesta que la consola no puede usar ({reason}). No se tomó nada de ella; la consola lo intentará de nuevo.</translation>
    </message>
    <message>
        <source>The server refused {count} record(s).</source>
        <translation>El servidor rechazó {count} registro(s).</translation>
    </message>
    <message>
        <source>The record store refused the request (HTTP {status}, {issue_code}).</source>
        <translation>El servidor de historias rechazó la solicitud (HTTP {status}, {issue_code}).</translation>
    </message>
    <message>
        <source>The record store cannot be reached right now ({reason}). The console keeps everything and will try again.</source>
        <translation>No se puede contactar ahora con el servidor de historias ({reason}). La consola lo conserva todo y lo intentará de nuevo.</translation>
    </message>
    <message>
        <source>The OS keyring holds no secret for the record store (auth = {auth}). IT sets it with `clinician-console secret set record_store`, which reads the password, client secret or private key (PEM) from standard input.</source>
        <translation>El llavero del sistema no tiene un secreto para el servidor de historias (auth = {auth}). TI lo define con `clinician-console secret set record_store`, que lee la contraseña, el secreto de cliente o la clave privada (PEM) de la entrada estándar.</translation>
    </message>
    <message>
        <source>The record store&apos;s TLS certificate could not be verified ({reason}). If the server uses a certificate from your organisation&apos;s own certificate authority, IT adds that CA bundle (PEM file) as ca_file in the [record_store] section of the settings or of the managed policy.</source>
        <translation>No se pudo verificar el certificado TLS del servidor de historias ({reason}). Si el servidor usa un certificado de la propia autoridad de certificación de su organización, TI añade ese paquete de CA (archivo PEM) como ca_file en la sección [record_store] de la configuración o de la política administrada.</translation>
    </message>
    <message>
        <source>Updating failed: {reason}.</source>
        <translation>La actualización falló: {reason}.</translation>
    </message>
    <message>
        <source>The update repository could not be reached ({reason}). The console will check again later.</source>
        <translation>No se pudo contactar con el repositorio de actualizaciones ({reason}). La consola volverá a comprobarlo más tarde.</translation>
    </message>
    <message>
        <source>An update was refused because it failed verification ({reason}). Nothing was installed; tell your IT department.</source>
        <translation>Se rechazó una actualización porque no superó la verificación ({reason}). No se instaló nada; avise a su departamento de TI.</translation>
    </message>
    <message>
        <source>The media server refused to let the console join: {reason}.</source>
        <translation>El servidor de video no permitió que la consola se uniera: {reason}.</translation>
    </message>
    <message>
        <source>The media server could not be reached ({reason}). Check the network; the console can try again.</source>
        <translation>No se pudo contactar con el servidor de video ({reason}). Revise la red; la consola puede intentarlo de nuevo.</translation>
    </message>
    <message>
        <source>The connection was lost.</source>
        <translation>Se perdió la conexión.</translation>
    </message>
    <message>
        <source>The demo visit could not start.</source>
        <translation>No se pudo iniciar la visita de demostración.</translation>
    </message>
    <message>
        <source>The host ended the visit.</source>
        <translation>El anfitrión terminó la visita.</translation>
    </message>
    <message>
        <source>You ended the visit.</source>
        <translation>Usted terminó la visita.</translation>
    </message>
    <message>
        <source>The visit could not start.</source>
        <translation>No se pudo iniciar la visita.</translation>
    </message>
    <message>
        <source>The patient left the visit.</source>
        <translation>El paciente salió de la visita.</translation>
    </message>
    <message>
        <source>The host removed you from the visit.</source>
        <translation>El anfitrión lo retiró de la visita.</translation>
    </message>
    <message>
        <source>The visit has ended: {reason}.</source>
        <translation>La visita terminó: {reason}.</translation>
    </message>
    <message>
        <source>The visit could not continue: {reason}.</source>
        <translation>La visita no pudo continuar: {reason}.</translation>
    </message>
    <message>
        <source>The media server address {url} uses plain {scheme}://, which would send the room PIN and the call&apos;s keys unencrypted. Use {secure}:// (ask IT for the address); only IT can allow this host, in the managed policy (security.allow_insecure_hosts).</source>
        <translation>La dirección del servidor de video {url} usa {scheme}:// sin cifrar, lo que enviaría el PIN de la sala y las claves de la llamada sin cifrar. Use {secure}:// (pida la dirección a TI); solo TI puede permitir este servidor, en la política administrada (security.allow_insecure_hosts).</translation>
    </message>
    <message>
        <source>The media server or the other participant sent something the console cannot use ({reason}). The call was not changed by it.</source>
        <translation>El servidor de video o el otro participante envió algo que la consola no puede usar ({reason}). La llamada no cambió por ello.</translation>
    </message>
    <message>
        <source>The picture from the far end did not arrive: {reason}.</source>
        <translation>La foto del otro extremo no llegó: {reason}.</translation>
    </message>
</context>
<context>
    <name>note_editor</name>
    <message>
        <source>No encounter selected — pick a visit on the left</source>
        <translation>Ninguna consulta seleccionada — elija una visita a la izquierda</translation>
    </message>
    <message>
        <source>Opening note…</source>
        <translation>Abriendo la nota…</translation>
    </message>
    <message>
        <source>History, symptoms and concerns in the patient&apos;s words</source>
        <translation>Antecedentes, síntomas y preocupaciones en palabras del paciente</translation>
    </message>
    <message>
        <source>Vitals, examination findings, results</source>
        <translation>Signos vitales, hallazgos de la exploración, resultados</translation>
    </message>
    <message>
        <source>Diagnosis or differential</source>
        <translation>Diagnóstico o diagnóstico diferencial</translation>
    </message>
    <message>
        <source>Treatment, prescriptions, follow-up, referrals</source>
        <translation>Tratamiento, recetas, seguimiento, derivaciones</translation>
    </message>
</context>
<context>
    <name>plugins_dialog</name>
    <message>
        <source>Active</source>
        <translation>Activo</translation>
    </message>
    <message>
        <source>Not started</source>
        <translation>No iniciado</translation>
    </message>
    <message>
        <source>Disabled</source>
        <translation>Desactivado</translation>
    </message>
    <message>
        <source>Not allowed</source>
        <translation>No permitido</translation>
    </message>
    <message>
        <source>Failed</source>
        <translation>Falló</translation>
    </message>
</context>
<context>
    <name>qt_visit_window</name>
    <message>
        <source>Starting</source>
        <translation>Iniciando</translation>
    </message>
    <message>
        <source>Connecting…</source>
        <translation>Conectando…</translation>
    </message>
    <message>
        <source>Waiting</source>
        <translation>En espera</translation>
    </message>
    <message>
        <source>In call</source>
        <translation>En llamada</translation>
    </message>
    <message>
        <source>Reconnecting…</source>
        <translation>Reconectando…</translation>
    </message>
    <message>
        <source>Ended</source>
        <translation>Terminada</translation>
    </message>
    <message>
        <source>Checking connection…</source>
        <translation>Comprobando la conexión…</translation>
    </message>
    <message>
        <source>Good connection</source>
        <translation>Buena conexión</translation>
    </message>
    <message>
        <source>Fair connection</source>
        <translation>Conexión regular</translation>
    </message>
    <message>
        <source>Poor connection</source>
        <translation>Mala conexión</translation>
    </message>
    <message>
        <source>Connection lost, reconnecting…</source>
        <translation>Conexión perdida, reconectando…</translation>
    </message>
    <message>
        <source>The network connection was lost. The console reconnects by itself; the call resumes as soon as the network is back.</source>
        <translation>Se perdió la conexión de red. La consola se reconecta sola; la llamada continúa en cuanto vuelva la red.</translation>
    </message>
    <message>
        <source>Connecting to the visit…</source>
        <translation>Conectando a la visita…</translation>
    </message>
    <message>
        <source>Setting up the call with the media server. This usually takes a few seconds.</source>
        <translation>Preparando la llamada con el servidor de video. Suele tardar unos segundos.</translation>
    </message>
    <message>
        <source>Waiting for the patient</source>
        <translation>Esperando al paciente</translation>
    </message>
    <message>
        <source>Send the invite link on the right. People who open it wait in the waiting room until you admit them.</source>
        <translation>Envíe el enlace de invitación de la derecha. Quienes lo abran esperan en la sala de espera hasta que usted los admita.</translation>
    </message>
    <message>
        <source>Waiting to be admitted</source>
        <translation>Esperando ser admitido</translation>
    </message>
    <message>
        <source>The clinician has been told you are here and will let you in shortly.</source>
        <translation>Se avisó al profesional de que usted está aquí; le dejará entrar en breve.</translation>
    </message>
    <message>
        <source>Nobody else is in the visit</source>
        <translation>No hay nadie más en la visita</translation>
    </message>
    <message>
        <source>The others have left. Admit someone from the waiting room, or hang up.</source>
        <translation>Los demás se fueron. Admita a alguien de la sala de espera o cuelgue.</translation>
    </message>
    <message>
        <source>The visit has ended</source>
        <translation>La visita terminó</translation>
    </message>
    <message>
        <source>The call is over.</source>
        <translation>La llamada terminó.</translation>
    </message>
    <message>
        <source>Hang up and end the visit? Everyone in the call is disconnected. The encounter note stays open.</source>
        <translation>¿Colgar y terminar la visita? Todos los participantes se desconectan. La nota de la consulta sigue abierta.</translation>
    </message>
    <message>
        <source>No microphone found</source>
        <translation>No se encontró micrófono</translation>
    </message>
    <message>
        <source>No camera found</source>
        <translation>No se encontró cámara</translation>
    </message>
    <message>
        <source>No speaker found</source>
        <translation>No se encontró altavoz</translation>
    </message>
    <message>
        <source>Direct (host)</source>
        <translation>Directa (host)</translation>
    </message>
    <message>
        <source>Through NAT (srflx)</source>
        <translation>A través de NAT (srflx)</translation>
    </message>
    <message>
        <source>Through NAT (prflx)</source>
        <translation>A través de NAT (prflx)</translation>
    </message>
    <message>
        <source>Relayed by TURN (relay)</source>
        <translation>Retransmitida por TURN (relay)</translation>
    </message>
    <message>
        <source>Relayed by TURN (relay, %1)</source>
        <translation>Retransmitida por TURN (relay, %1)</translation>
    </message>
    <message>
        <source>On: sending less to keep the call going</source>
        <translation>Activado: se envía menos para mantener la llamada</translation>
    </message>
    <message>
        <source>Off</source>
        <translation>Desactivado</translation>
    </message>
</context>
<context>
    <name>search</name>
    <message>
        <source>Searching…</source>
        <translation>Buscando…</translation>
    </message>
</context>
<context>
    <name>startup</name>
    <message>
        <source>Opening the encrypted record store…</source>
        <translation>Abriendo el almacén de historias cifrado…</translation>
    </message>
    <message>
        <source>The record store could not be opened</source>
        <translation>No se pudo abrir el almacén de historias</translation>
    </message>
    <message>
        <source>Sign in to the desktop session whose keyring holds the store key, or restore the keyring entry. Do not delete the store: it is intact. If the key is lost, restore the profile from a backup or contact IT.</source>
        <translation>Inicie la sesión de escritorio cuyo llavero guarda la clave del almacén, o restaure esa entrada del llavero. No borre el almacén: está intacto. Si la clave se perdió, restaure el perfil desde una copia de seguridad o contacte con TI.</translation>
    </message>
    <message>
        <source>Restore the profile from the latest backup, or contact IT support. The damaged file was not changed, so support can still examine it.</source>
        <translation>Restaure el perfil desde la última copia de seguridad o contacte con el soporte de TI. El archivo dañado no se modificó, así que el soporte aún puede examinarlo.</translation>
    </message>
    <message>
        <source>Restore the store file from a backup, or contact IT support.</source>
        <translation>Restaure el archivo del almacén desde una copia de seguridad o contacte con el soporte de TI.</translation>
    </message>
    <message>
        <source>Install the newer Clinician Console that last opened this store.</source>
        <translation>Instale la versión más reciente de Clinician Console que abrió este almacén por última vez.</translation>
    </message>
    <message>
        <source>Free some disk space, then start the console again.</source>
        <translation>Libere espacio en el disco y vuelva a iniciar la consola.</translation>
    </message>
    <message>
        <source>This store keeps its key in the OS keyring. Start the console in a desktop session with a working keyring (for example GNOME Keyring or KWallet).</source>
        <translation>Este almacén guarda su clave en el llavero del sistema. Inicie la consola en una sesión de escritorio con un llavero que funcione (por ejemplo, GNOME Keyring o KWallet).</translation>
    </message>
    <message>
        <source>Restore the profile from a backup, or ask IT to reset the console&apos;s PIN. The record store itself was not changed.</source>
        <translation>Restaure el perfil desde una copia de seguridad o pida a TI que restablezca el PIN de la consola. El almacén de historias no se modificó.</translation>
    </message>
    <message>
        <source>Correct the file named above (or ask IT if it is the managed policy).</source>
        <translation>Corrija el archivo indicado arriba (o pida ayuda a TI si es la política administrada).</translation>
    </message>
    <message>
        <source>Quit and start the console again. If this keeps happening, contact IT support.</source>
        <translation>Salga y vuelva a iniciar la consola. Si sigue ocurriendo, contacte con el soporte de TI.</translation>
    </message>
    <message>
        <source>Create store</source>
        <translation>Crear almacén</translation>
    </message>
    <message>
        <source>Unlock</source>
        <translation>Desbloquear</translation>
    </message>
    <message>
        <source>Choose a passphrase for the new encrypted store (at least %1 characters). It cannot be recovered if forgotten.</source>
        <translation>Elija una frase de contraseña para el nuevo almacén cifrado (al menos %1 caracteres). Si la olvida, no se puede recuperar.</translation>
    </message>
    <message>
        <source>Enter the store passphrase.</source>
        <translation>Escriba la frase de contraseña del almacén.</translation>
    </message>
    <message>
        <source>No OS keyring available</source>
        <translation>No hay llavero del sistema</translation>
    </message>
    <message>
        <source>Unlock the record store</source>
        <translation>Desbloquear el almacén de historias</translation>
    </message>
    <message>
        <source>Choose a store passphrase</source>
        <translation>Elija una frase de contraseña para el almacén</translation>
    </message>
    <message>
        <source>Choose a passphrase for the new encrypted store.</source>
        <translation>Elija una frase de contraseña para el nuevo almacén cifrado.</translation>
    </message>
    <message>
        <source>Choose a PIN for this console</source>
        <translation>Elija un PIN para esta consola</translation>
    </message>
    <message>
        <source>The console asks for it at every start and every unlock. Choose a PIN of at least %1 digits, or a passphrase of at least %2 characters. It is kept only as a hash: it cannot be recovered if forgotten.</source>
        <translation>La consola lo pide en cada inicio y cada desbloqueo. Elija un PIN de al menos %1 dígitos o una frase de contraseña de al menos %2 caracteres. Solo se guarda su hash: si lo olvida, no se puede recuperar.</translation>
    </message>
    <message>
        <source>Set PIN</source>
        <translation>Definir PIN</translation>
    </message>
    <message>
        <source>Enter your passphrase to open the console.</source>
        <translation>Escriba su frase de contraseña para abrir la consola.</translation>
    </message>
    <message>
        <source>Enter your PIN to open the console.</source>
        <translation>Escriba su PIN para abrir la consola.</translation>
    </message>
    <message>
        <source>Too many wrong attempts: wait %1 seconds.</source>
        <translation>Demasiados intentos fallidos: espere %1 segundos.</translation>
    </message>
    <message>
        <source>Unlock the console</source>
        <translation>Desbloquear la consola</translation>
    </message>
</context>
<context>
    <name>sync_details</name>
    <message>
        <source>Reading the outbox…</source>
        <translation>Leyendo la bandeja de salida…</translation>
    </message>
    <message>
        <source>Nothing has failed.</source>
        <translation>No ha fallado nada.</translation>
    </message>
    <message>
        <source>No conflicts.</source>
        <translation>No hay conflictos.</translation>
    </message>
</context>
<context>
    <name>sync_status</name>
    <message>
        <source>Sync not set up</source>
        <translation>Sincronización no configurada</translation>
    </message>
    <message>
        <source>No record server is set up (IT sets it under Settings › Advanced), so notes stay on this computer only.</source>
        <translation>No hay un servidor de historias configurado (TI lo define en Configuración › Avanzada), así que las notas solo quedan en este equipo.</translation>
    </message>
    <message>
        <source>Synced %1</source>
        <translation>Sincronizado %1</translation>
    </message>
    <message>
        <source>Syncing %1 of %2…</source>
        <translation>Sincronizando %1 de %2…</translation>
    </message>
    <message>
        <source>Syncing…</source>
        <translation>Sincronizando…</translation>
    </message>
    <message>
        <source>Offline</source>
        <translation>Sin conexión</translation>
    </message>
    <message>
        <source>Offline — retrying…</source>
        <translation>Sin conexión — reintentando…</translation>
    </message>
    <message>
        <source>Offline — retrying in %1 s</source>
        <translation>Sin conexión — reintento en %1 s</translation>
    </message>
    <message>
        <source>Sync error: %1</source>
        <translation>Error de sincronización: %1</translation>
    </message>
    <message>
        <source>Online</source>
        <translation>Conectado</translation>
    </message>
    <message>
        <source>Not synced yet</source>
        <translation>Aún sin sincronizar</translation>
    </message>
    <message>
        <source>Sync error</source>
        <translation>Error de sincronización</translation>
    </message>
</context>
<context>
    <name>techcheck_dialog</name>
    <message>
        <source>Checking… (about 10 seconds)</source>
        <translation>Comprobando… (unos 10 segundos)</translation>
    </message>
</context>
<context>
    <name>unlock</name>
    <message>
        <source>Console locked</source>
        <translation>Consola bloqueada</translation>
    </message>
    <message>
        <source>Demo profile: no PIN is set, because it holds demo data only and no record store. A console with patient data always asks for a PIN or passphrase.</source>
        <translation>Perfil de demostración: no hay PIN, porque solo contiene datos de demostración y ningún servidor de historias. Una consola con datos de pacientes siempre pide un PIN o una frase de contraseña.</translation>
    </message>
</context>
<context>
    <name>video_view</name>
    <message>
        <source>Camera off</source>
        <translation>Cámara apagada</translation>
    </message>
    <message>
        <source>Waiting for video…</source>
        <translation>Esperando el video…</translation>
    </message>
</context>
<context>
    <name>worklist</name>
    <message>
        <source>Loading today&apos;s visits…</source>
        <translation>Cargando las visitas de hoy…</translation>
    </message>
    <message>
        <source>No visits on the worklist yet.
Imported or scheduled visits will appear here.</source>
        <translation>Aún no hay visitas en la lista de trabajo.
Las visitas importadas o programadas aparecerán aquí.</translation>
    </message>
</context>
</TS>
