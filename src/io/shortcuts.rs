//! The adapters with default options, as [`Client`] methods: the common case (the client's
//! suite and frame length, no encryption context, [`Release::Streaming`](super::Release))
//! needs no options argument. For the others, use the adapters' own constructors.

use bytes::Bytes;
use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    DecryptOptions, DecryptStream, DecryptingReader, EncryptStream, EncryptingWriter,
    decrypt_stream, encrypt_stream,
};
use crate::client::{Client, EncryptOptions, MaterialsSource};
use crate::error::Result;

impl Client {
    /// [`EncryptingWriter::new`] with default options: plaintext written to it goes into
    /// `inner` as a message. Shut it down to finish the message.
    ///
    /// # Errors
    /// A policy refusal or a keyring failure.
    pub async fn encrypting_writer<W: AsyncWrite>(
        &self,
        source: impl Into<MaterialsSource>,
        inner: W,
    ) -> Result<EncryptingWriter<W>> {
        EncryptingWriter::new(self, source, inner, &EncryptOptions::new()).await
    }

    /// [`DecryptingReader::new`] with default options: reads the header and returns a reader
    /// of the plaintext.
    ///
    /// # Errors
    /// As [`DecryptingReader::new`].
    pub async fn decrypting_reader<R: AsyncRead + Unpin>(
        &self,
        source: impl Into<MaterialsSource>,
        inner: R,
    ) -> Result<DecryptingReader<R>> {
        DecryptingReader::new(self, source, inner, &DecryptOptions::new()).await
    }

    /// [`encrypt_stream`] with default options.
    ///
    /// # Errors
    /// A policy refusal or a keyring failure.
    pub async fn encrypt_stream<S, E>(
        &self,
        source: impl Into<MaterialsSource>,
        input: S,
    ) -> Result<EncryptStream<S>>
    where
        S: Stream<Item = std::result::Result<Bytes, E>>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        encrypt_stream(self, source, input, &EncryptOptions::new()).await
    }

    /// [`decrypt_stream`] with default options.
    ///
    /// # Errors
    /// As [`decrypt_stream`].
    pub async fn decrypt_stream<S, E>(
        &self,
        source: impl Into<MaterialsSource>,
        input: S,
    ) -> Result<DecryptStream<S>>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        decrypt_stream(self, source, input, &DecryptOptions::new()).await
    }
}
